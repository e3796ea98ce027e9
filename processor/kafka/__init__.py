"""The Kafka edge (``slo run --source kafka``, docs/kafka.md): a faust app whose agents hand
batches of records to the same engines as the NATS path. Needs the ``kafka`` extra
(``pip install slo-processor[kafka]``); nothing outside this package imports faust.

    subjects.py   a record's subject: topic + key or field (config ``kafka.topics``); no faust
"""
