"""NATS JetStream edge: connect, provision streams, batch pull consumer, publisher, KV checkpoints,
embedded nats-server. Import the submodules; this package imports nothing so that
``processor.bus.jsreply`` stays importable without nats-py."""
