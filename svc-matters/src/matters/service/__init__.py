"""Domain rules of svc-matters, one module per capability (no HTTP here):

- ``catalogue``: matters (事项), versions, import, guide completeness (办事指南)
- ``applications``: submitting, reading and listing applications (办件), visibility
- ``lifecycle``: the state machine of an application and the actions on it
- ``clock``: the statutory clock (法定时限) in working days
- ``materials``: uploads, the blob store, exemptions (两个免于提交)
- ``live``: live status fan-out for Server-Sent Events
- ``bundles``: 一件事 integrated services; ``benefits``: 免申即享
- ``stalls``: stall (堵点) detection; ``cockpit``: the data cockpit (数据驾驶舱)
"""
