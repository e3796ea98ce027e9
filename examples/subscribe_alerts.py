"""A service that reacts to the processor's alerts (docs/subscribing.md).

    python examples/subscribe_alerts.py nats://127.0.0.1:4222 --service trading-engine --durable risk-desk

Each alert transition of the service is printed, then acked; stopped (Ctrl-C) and started again
with the same --durable, it goes on after the last alert it acked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from processor.bus.connect import ConnectOptions, connect
from processor.client import Alert, Subscription, alerts_subject


async def handle(alert: Alert) -> None:
    # Your reaction: page, pause a strategy, scale out... An exception here leaves the alert
    # unacked: it comes back first when the subscriber starts again.
    ends = f" (ended {alert.ends_at:%H:%M:%S})" if alert.ends_at else ""
    print(f"{alert.status:8} {alert.severity:8} {alert.service} {alert.alertname} value={alert.value}{ends}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--service", default=None)
    parser.add_argument("--severity", default=None)
    parser.add_argument("--durable", default="example-subscriber")
    parser.add_argument("--limit", type=int, default=None, help="stop after this many alerts")
    args = parser.parse_args()

    nc = await connect(ConnectOptions(url=args.url))
    try:
        subject = alerts_subject(service=args.service, severity=args.severity)
        # start="all": a new durable begins with the alerts the SLO stream still holds (30 days);
        # the default, "new", with those published from now on.
        async with Subscription(nc, subject, durable=args.durable, start="all") as subscription:
            await subscription.run(handle, limit=args.limit)
    finally:
        await nc.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
