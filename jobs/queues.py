"""The Celery queues, and which worker consumes each:

- ``default``     small housekeeping (the job sweeper, test jobs): the main worker.
- ``exports``     export snapshots and imports: the main worker.
- ``generation``  candidate sampling, loads models: the main worker (docker compose: same worker).
- ``training``    reward / policy training subprocesses: the training worker, concurrency 1.

`make run` starts one worker consuming all four; docker-compose.yml splits training off. The
names live with the job framework, below every app, so a job kind's queue and the stack runner
(annotate's runstack) read them without importing config.
"""
QUEUES = ("default", "exports", "generation", "training")
