"""Domain rules of svc-notifications, one module per capability (no HTTP here):

- ``intake``: the events that should reach a person, each made a notification from a template
- ``inbox``: a recipient's notifications, unread count, marking read, contacts and preferences
- ``channels``: the outside channels (e-mail over SMTP, SMS and 随申办 push over HTTP) behind one interface
- ``delivery``: sending each notification on the channels the recipient wants, with retries and quiet hours
- ``live``: the live stream (SSE) of a recipient's new notifications, across replicas
"""
