"""Scaling out on Celery: the scheduler leases due work and queues it; `lastseen worker` processes run it.

A surface beside the scheduler (it runs the stages; only the CLI and the scheduler import it). Without
LASTSEEN_BROKER_URL no broker is used: the scheduler does every round in its own process, the Wayback and alert
rounds with the same bodies (work.wayback_work, work.alert_work) the workers run.
"""
