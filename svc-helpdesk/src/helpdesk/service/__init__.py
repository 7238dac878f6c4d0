"""Domain rules of svc-helpdesk, one module per capability (no HTTP here):

- ``sla``: the SLA engine (clocks, pauses, warnings, breaches, escalations)
- ``tickets``: help sessions and tickets (帮办), their messages, states and actions
- ``assignment``: agents, least-loaded assignment and re-assignment when nobody answers
- ``routing``: which department answers for a matter
- ``hotline``: 12345 three-way transfer attempts (三方转接)
- ``ratings``: ratings (好差评) and rectification of bad ones (差评整改)
- ``halls``: service halls, appointments, check-in (取号), calls to windows
- ``reports``: measured figures of every promise
- ``calendar_admin``: ops submit and approve a year of the working-day calendar
"""
