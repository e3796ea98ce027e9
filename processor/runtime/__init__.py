"""The asyncio runtime: bus -> engines -> bus, one lane per consumed stream.

::

    serve.py        `slo run`: connect (or start the embedded server), run a Processor until stopped
    processor.py    Processor: start / run / stop, wiring the parts below
    topology.py     which engine reads which stream (the config partitioned by stream subjects)
    partitions.py   one hot subject split into N partitions by a key token (`slo run --partition`)
    lane.py         one stream's loop: pull a batch -> engine.ingest -> outbox -> ack
    outbox.py       engine outputs -> messages; publish, wait for PubAcks, retry with backoff
    render.py       engine outputs -> subjects, JSON payloads, headers, dedupe ids (pure)
    idle.py         the idle clock: event time runs on with the wall clock when the bus is idle
    checkpoints.py  when and what to checkpoint, and the restore at start
    stopping.py     SIGINT/SIGTERM: every wait of a stop bounded, and a watchdog past the deadline
    testhooks.py    test-only hooks from the environment (checkpoint interval, stall points)
    logs.py         structlog configuration

Import the submodules; this package imports nothing, so that ``processor.runtime.render`` (pure)
stays importable without nats-py.
"""
