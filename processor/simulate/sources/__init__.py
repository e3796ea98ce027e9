"""The event sources of the platform, one module per stream (market, trade, ai, analytics).

A source is a function of ``(run, until_ms)`` that yields ``(ts, subject, payload)`` in
non-decreasing ``ts`` order, for ``run.start_ms <= ts < until_ms``; the generator merges them.
``run`` (``sources.run.Run``) holds what every source of one run shares; ``sources.shapes``
the shapes of source that several streams use.

Baseline (no incident): every value comfortably inside PLATFORM-SLOS.md. Gateway p50 ~30 ms,
p95 ~70 ms, p99 ~100 ms, 5xx 0.002 % (the only errors besides ``market.request``'s 0.002 %; every
other operation succeeds, so that low-volume ratios cannot breach by chance), cache hit rate
90 %, quote freshness 20-300 ms, decisions p50 ~1.1 s / p95 ~2 s, decision accuracy 70 %, no
fallbacks, cost ~$0.0022 per uncached decision, cpu 40 +- 5 %, every provider, broker, stream,
database and agent up, every saga completing well within its timeout, cycle drift < 1 s.

Every source draws from its own ``Random`` (``run.rng(name)``) and draws the same numbers for
each event whatever the incidents: a draw is made before the incidents are looked at, and
incidents only change what is made of the draws.
"""
