"""Connections to the outside services, built from settings, with explicit timeouts.

Logic receives these (or fakes of them) instead of building clients itself.
"""

from __future__ import annotations

import functools
import gzip
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platform_monitoring.core.settings import DatabaseSettings, RedisSettings, StripeSettings

if TYPE_CHECKING:
    import redis
    import stripe
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient


def redis_client(settings: RedisSettings, timeout: float) -> redis.Redis:
    import redis  # noqa: PLC0415
    from redis.backoff import NoBackoff  # noqa: PLC0415
    from redis.driver_info import DriverInfo  # noqa: PLC0415
    from redis.retry import Retry  # noqa: PLC0415

    url = settings.url.reveal() or ""
    # rediss://: redis-py's TLS, certificate and host name verified (its defaults); REDIS_SSL_CA names the CA.
    tls: dict[str, Any] = {}
    if url.startswith("rediss://"):
        # CLIENT SETNAME on connect: its reply drains the TLS 1.3 session tickets the server sends after
        # the handshake; without a command on connect redis-py can find them unread and refuse the new
        # connection ("Connection not ready": 15 of 60 fresh clients against redis-server 7.0 here).
        tls["client_name"] = "askproai-monitoring"
        if settings.ssl_ca:
            tls["ssl_ca_certs"] = settings.ssl_ca
    return redis.Redis.from_url(
        url,
        **tls,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # redis-py retries three times by default, which would triple a hung server's cost.
        retry=Retry(NoBackoff(), 0),
        # RESP2 and no CLIENT SETINFO: a new connection costs one round trip, not four.
        protocol=2,
        driver_info=DriverInfo(name=None, lib_version=None),
    )


def mysql_ssl(settings: DatabaseSettings) -> dict[str, Any] | None:
    """pymysql's `ssl=` for every MySQL client (health check, security_logs, the CLI, migrate).

    Without DB_SSL_CA: None, pymysql's own default (TLS when the server offers it, unverified, so a
    man in the middle can strip or intercept it). With it: TLS required (a server without it is
    refused) and verified against that CA, certificate and host name; DB_SSL_VERIFY=false keeps
    TLS required but checks neither."""
    if not settings.ssl_ca:
        return None
    return {"ca": settings.ssl_ca, "check_hostname": settings.ssl_verify, "verify_mode": settings.ssl_verify}


def stripe_client(settings: StripeSettings, timeout: float) -> stripe.StripeClient:
    import stripe  # noqa: PLC0415

    base = {"api": settings.api_base} if settings.api_base else {}
    return stripe.StripeClient(
        settings.secret_key.reveal() or "",
        base_addresses=base,  # type: ignore[arg-type]
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


@functools.cache
def _botocore_session() -> Any:
    """botocore's session with a loader that reads the same data faster (make bench part 2 prints the
    first AWS client beside botocore's stock loader: 0.58x of it here, on every AWS-using function's
    cold start). The models and endpoints still come from botocore's own data files."""
    import botocore.loaders  # noqa: PLC0415
    import botocore.session  # noqa: PLC0415

    class PlainJSONFileLoader(botocore.loaders.JSONFileLoader):
        """botocore's JSON file loader without object_pairs_hook=OrderedDict: a plain dict keeps the
        file's order as well, and decoding the 1.2 MB endpoints.json is about twice as fast without it."""

        def load_file(self, file_path: str) -> Any:
            plain, packed = Path(f"{file_path}.json"), Path(f"{file_path}.json.gz")  # botocore's order
            if plain.is_file():
                return json.loads(plain.read_bytes())
            if packed.is_file():
                return json.loads(gzip.decompress(packed.read_bytes()))
            return None

    class KnownServicesLoader(botocore.loaders.Loader):
        """Told which services exist instead of finding out: the stock loader lists the 440 folders
        of botocore/data and stats their API versions before it loads the first model. This bundle
        calls the services of AWS_ATTEMPTS only."""

        def list_available_services(self, type_name: str) -> list[str]:
            return sorted(AWS_ATTEMPTS)

    session = botocore.session.get_session()
    stock = session.get_component("data_loader")  # built, not used: it lists nothing until asked
    # Its search paths (AWS_DATA_PATH, ~/.aws/models, botocore/data), in the same order.
    loader = KnownServicesLoader(
        extra_search_paths=stock.search_paths, file_loader=PlainJSONFileLoader(), include_default_search_paths=False
    )
    session.register_component("data_loader", loader)
    return session


_client_lock = threading.Lock()  # a botocore session does not create two clients at once safely


@functools.lru_cache(maxsize=32)
def _aws_client(service: str, timeout: float, attempts: int) -> Any:
    # botocore's session, not boto3's: boto3 adds resources and S3 transfers, which no function
    # uses, and importing it (s3transfer, concurrent.futures) cost every AWS-using function about
    # 100 ms of its cold start here (make bench, part 2). The clients are the same botocore clients.
    from botocore.config import Config  # noqa: PLC0415

    # AWS_ENDPOINT_URL (botocore's own setting) points every client at moto server locally.
    # total_max_attempts counts the first try; botocore's max_attempts would count retries only.
    config = Config(
        connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": attempts, "mode": "standard"}
    )
    with _client_lock:
        return _botocore_session().create_client(service, config=config)


# Attempts (the first try included) of each AWS client; the call budgets below and the budget
# test (tests/unit/core/test_call_budgets.py) read them.
AWS_ATTEMPTS = {"sqs": 1, "dynamodb": 2, "sns": 1, "ses": 1, "wafv2": 2}
MAX_BACKOFF_SECONDS = 20.0  # botocore's standard mode caps one retry's wait here


def retry_backoff_seconds(attempts: int) -> float:
    """The longest botocore's standard mode waits between `attempts` tries: before retry k it
    sleeps a random share of 2**(k-1) s (capped at 20 s), so at most 1 + 2 + 4 ... s."""
    return sum(min(2.0 ** (k - 1), MAX_BACKOFF_SECONDS) for k in range(1, attempts))


def aws_call_budget(timeout: float, attempts: int) -> float:
    """The longest one boto3 call can take: each attempt may spend its connect and its read
    timeout (a black hole, then a server that accepts and never answers), plus the backoffs."""
    return attempts * 2 * timeout + retry_backoff_seconds(attempts)


def socket_call_budget(timeout: float) -> float:
    """Redis (socket connect + socket timeout, no retries), Stripe's and Slack's requests
    (timeout= is the connect and the read timeout each, no retries): connect plus read."""
    return 2 * timeout


def sqs_client(timeout: float) -> SQSClient:
    client: SQSClient = _aws_client("sqs", timeout, AWS_ATTEMPTS["sqs"])
    return client


def dynamodb_client(timeout: float, attempts: int = AWS_ATTEMPTS["dynamodb"]) -> DynamoDBClient:
    client: DynamoDBClient = _aws_client("dynamodb", timeout, attempts)
    return client


def wafv2_client(timeout: float) -> Any:
    """WAFv2 (the edge updater); Any: the bundle ships no wafv2 stubs, security.edge.WafClient types it."""
    return _aws_client("wafv2", timeout, AWS_ATTEMPTS["wafv2"])


def sns_client(timeout: float) -> SNSClient:
    # One attempt: a publish that timed out may have gone out, and alerts must not double.
    client: SNSClient = _aws_client("sns", timeout, AWS_ATTEMPTS["sns"])
    return client


def ses_client(timeout: float) -> SESClient:
    client: SESClient = _aws_client("ses", timeout, AWS_ATTEMPTS["ses"])
    return client


def preload_stripe() -> None:
    """Import stripe during the init phase (cold start), not during the first request."""
    import stripe  # noqa: F401, PLC0415


def preload_health_clients() -> None:
    """Import the health checks' client libraries during the init phase (cold start), so the
    first request's check timeouts are not spent importing stripe and botocore."""
    import botocore.session  # noqa: F401, PLC0415
    import pymysql  # noqa: F401, PLC0415
    import redis  # noqa: F401, PLC0415
    import stripe  # noqa: F401, PLC0415
