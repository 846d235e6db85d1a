"""Prometheus metrics, defined once. Labels stay low-cardinality: never a share, campaign or
colleague id, only bounded sets (queue, network, outcome, organisation)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ACCOUNTS",
    "ACCOUNTS_EXPIRING",
    "BUS_MESSAGES",
    "COLLEAGUES",
    "NETWORK_REQUEST_SECONDS",
    "OLDEST_QUEUED_SECONDS",
    "OUTBOX_RELAYED",
    "QUEUE_CONSUMERS",
    "QUEUE_MESSAGES",
    "REACH_GAUGE",
    "READBACKS_DEFERRED",
    "READ_RATE_LIMITS",
    "SHARES_FAILED",
    "SHARES_OUTCOMES",
    "SHARES_RELEASED",
    "SHARE_MESSAGES_RELEASED",
    "WEBHOOK_ATTEMPTS",
]

BUS_MESSAGES = Counter(
    "chorus_bus_messages_total",
    "Messages handled by a consumer, by queue and outcome (acked, retried, dead_lettered).",
    ["queue", "outcome"],
)
OUTBOX_RELAYED = Counter("chorus_outbox_relayed_total", "Outbox events published with confirms.")
SHARES_RELEASED = Counter(
    "chorus_shares_released_total", "Shares released to the bus when due.", ["network"]
)
SHARE_MESSAGES_RELEASED = Counter(
    "chorus_share_messages_released_total",
    "Messages the releases took to the publisher queues (each carries one share or more): "
    "over chorus_shares_released_total, the shares one message carries on average.",
    ["network"],
)
SHARES_OUTCOMES = Counter(
    "chorus_share_outcomes_total",
    "What publishing attempts ended in (published, failed, delayed, retried).",
    ["network", "outcome"],
)
SHARES_FAILED = Counter(
    "chorus_share_failures_total",
    "Shares that ended failed, by network and kind (chorus.common.failures.FailureKind: "
    "authorisation, permanent, exhausted, rate_limited, credentials).",
    ["network", "kind"],
)
READ_RATE_LIMITS = Counter(
    "chorus_read_rate_limits_total",
    "Read-backs the network told to wait, by network and kind: rate_limited (a 429 or a "
    "throttling error on a read), budget_spent (the read's answer said its budget is gone). "
    "Each one holds that network's reads on one scope until its reset.",
    ["network", "kind"],
)
READBACKS_DEFERRED = Counter(
    "chorus_readbacks_deferred_total",
    "Read-backs put off without calling the network and without spending an attempt, by "
    "network and kind: held (a rate hold on their scope), paced (the read budget's window "
    "was used up by the collector's own reads).",
    ["network", "kind"],
)
NETWORK_REQUEST_SECONDS = Histogram(
    "chorus_network_request_seconds",
    "Time spent in a network's API per call.",
    ["network", "operation"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REACH_GAUGE = Gauge(
    "chorus_reach",
    "Latest read-back totals per organisation and network. `kind` is followers (potential "
    "reach), reshares, likes, replies or impressions; a kind the network does not report is "
    "absent rather than 0.",
    ["org_id", "network", "kind"],
)
QUEUE_MESSAGES = Gauge(
    "chorus_queue_messages",
    "Messages waiting in each queue, the dead-letter queue included: a growing publisher queue "
    "means too few publishers, anything in the dead-letter queue needs a look.",
    ["queue"],
)
QUEUE_CONSUMERS = Gauge(
    "chorus_queue_consumers",
    "Consumers connected to each queue: messages waiting with none means nothing will take them.",
    ["queue"],
)
OLDEST_QUEUED_SECONDS = Gauge(
    "chorus_queue_oldest_share_seconds",
    "Age of the oldest share released to a publisher queue and not yet taken (0 when none): "
    "growing while the queue has consumers means they are alive but not consuming.",
    ["queue"],
)
ACCOUNTS_EXPIRING = Gauge(
    "chorus_accounts_authorization_expiring",
    "Connected accounts whose authorisation runs out within `within` (a network's consent, "
    "e.g. LinkedIn's 60-day tokens without refresh): their colleagues must connect them again.",
    ["network", "within"],
)
WEBHOOK_ATTEMPTS = Counter(
    "chorus_webhook_attempts_total",
    "Attempts to deliver a webhook to a CMS, by what they led to: delivered; retry (the CMS "
    "was down or answered an error, tried again later); failed (no attempt left, or nothing "
    "to retry); disabled (the CMS answered 410 Gone: the endpoint is turned off).",
    ["outcome"],
)
COLLEAGUES = Gauge(
    "chorus_colleagues",
    "Colleagues (ambassadors) by status: active, paused (no new shares) or left.",
    ["status"],
)
ACCOUNTS = Gauge(
    "chorus_accounts",
    "Accounts by network, status (connected; needs_reauth: the colleague must connect it "
    "again; revoked) and consent mode (auto: posts go out; review: the colleague approves each).",
    ["network", "status", "mode"],
)
