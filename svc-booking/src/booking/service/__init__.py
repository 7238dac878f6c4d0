"""Domain rules of svc-booking, one module per capability (no HTTP here):

- ``venues``: venues, their time slots, closed days, a day's capacity; the open days and slots of a day
- ``bookings``: booking a place (the capacity check in PostgreSQL), the waiting list, cancellation
- ``gate``: the real-name entry check at the gate (实名核验入园)
- ``no_shows``: the no-show rule, run after the slots end
- ``reports``: per venue and day
- ``seed``: the demo venues of 三省一市 for development
"""
