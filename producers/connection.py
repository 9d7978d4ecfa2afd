"""Fail fast when Kafka refuses our credentials or we refuse its certificate.

librdkafka treats a failed SASL authentication or TLS handshake like any broken
connection: it reports the error to ``error_cb``, reconnects with backoff, and a
request only fails when its own timeout expires (30 s and more), as a generic
``_TRANSPORT`` or ``_MSG_TIMED_OUT``. Retrying with the same settings can never
succeed, so clients here watch ``error_cb`` (:class:`AuthWatch`) and turn the first
such report into :class:`~schemas.errors.AuthenticationError`: one line naming the
cause, within about a second, instead of a retry storm ending in a timeout.

The messages name the user, mechanism, protocol and CA file, never a password.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from producers.settings import KafkaSettings
from schemas.errors import AuthenticationError, BrokerUnavailableError

__all__ = ["AuthWatch", "auth_failure", "check_credentials", "list_topics"]

_log = logging.getLogger(__name__)
_SLICE_S = 0.5
_ADDRESS = re.compile(r"^\S+://\S+?: ")
"""librdkafka's ``sasl_ssl://host:port/bootstrap: `` prefix (the address is said once)."""
_TIMING = re.compile(r" \(after \d+ms in state \w+\)$")
_TLS_MARKERS = ("certificate verify failed", "SSL handshake failed", "ssl.ca.location")


def auth_failure(err: KafkaError) -> str | None:
    """``"sasl"`` or ``"tls"`` when ``err`` reports refused credentials or an untrusted
    certificate (retrying cannot help), else ``None``. Pure."""
    code = err.code()
    if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        return "sasl"
    text = err.str()
    if code == KafkaError._SSL or (
        code == KafkaError._TRANSPORT and any(m in text for m in _TLS_MARKERS)
    ):
        return "tls"
    return None


class _Polled(Protocol):
    def list_topics(self, *args: Any, **kwargs: Any) -> Any: ...

    def poll(self, *args: Any, **kwargs: Any) -> Any: ...


class AuthWatch:
    """An ``error_cb`` that remembers the first authentication or TLS failure.

    Pass ``watch.on_error`` as the client's ``error_cb``; librdkafka calls it from
    ``poll``/``flush``/``consume``. Other errors are left to the client's own retries
    and logged as warnings (as librdkafka does itself when no ``error_cb`` is set),
    unless ``log_others=False``. Thread-safe.
    """

    def __init__(self, kafka: KafkaSettings, *, log_others: bool = True) -> None:
        self._kafka = kafka
        self._log_others = log_others
        self._lock = threading.Lock()
        self.failure: AuthenticationError | None = None

    def on_error(self, err: KafkaError) -> None:
        kind = auth_failure(err)
        if kind is None:
            # after a refusal, "all brokers are down" is its echo, not news
            if self._log_others and self.failure is None:
                _log.warning("kafka: %s: %s", err.name(), err.str())
            return
        with self._lock:
            if self.failure is None:
                self.failure = AuthenticationError(self._describe(kind, err.str()))

    def raise_if_failed(self) -> None:
        """Raise the recorded :class:`AuthenticationError`, if any."""
        if self.failure is not None:
            raise self.failure

    def _describe(self, kind: str, reason: str) -> str:
        k = self._kafka
        reason = _ADDRESS.sub("", _TIMING.sub("", reason)).strip()
        where = f"Kafka at {k.bootstrap_servers} ({k.security_protocol})"
        if kind == "tls":
            ca = k.ssl_ca_location or "the system's CA store"
            return f"{where}: its TLS certificate is not trusted (ssl_ca_location={ca}): {reason}"
        return (
            f"{where} refused the credentials of {k.sasl_username!r} ({k.sasl_mechanism}): "
            f"{reason}; check the password file kafka__sasl_password in the secrets directory"
        )


def list_topics(client: _Polled, watch: AuthWatch, timeout_s: float) -> Any:
    """Cluster metadata, asked in short slices so that an authentication failure
    reported in between ends the wait at once.

    Raises :class:`AuthenticationError` for refused credentials or an untrusted
    certificate, :class:`BrokerUnavailableError` when no broker answers in time.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            return client.list_topics(timeout=max(0.05, min(_SLICE_S, remaining)))
        except KafkaException as exc:
            client.poll(0)  # serve error_cb
            watch.raise_if_failed()
            if time.monotonic() >= deadline:
                raise BrokerUnavailableError(f"cannot list topics: {exc}") from exc


def check_credentials(kafka: KafkaSettings, timeout_s: float = 10.0) -> None:
    """Raise :class:`AuthenticationError` if the cluster refuses these settings'
    credentials or certificate; return as soon as metadata is served.

    Free for ``PLAINTEXT`` (nothing to check). A cluster that does not answer within
    ``timeout_s`` is *not* an error here: reachability is the caller's business.
    """
    if kafka.security_protocol == "PLAINTEXT":
        return
    watch = AuthWatch(kafka, log_others=False)
    admin = AdminClient({**kafka.client_config(), "log_level": 0}, error_cb=watch.on_error)
    try:
        list_topics(admin, watch, timeout_s)
    except BrokerUnavailableError:
        return
