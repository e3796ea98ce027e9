"""Operating a running processor: `slo status`, `slo tail`, and what `slo validate --services`
says of a sidecar's partition."""
