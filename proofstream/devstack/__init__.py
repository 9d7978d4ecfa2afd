"""Local development stack: real Kafka brokers launched from the official jars.

``kafka`` (the single node), ``cluster`` (``--nodes 3``), ``secure`` (SASL_SSL with
``tls``), built from ``jars`` (fetching) and ``node`` (one KRaft JVM); ``quorum`` and
``report`` describe a running cluster; ``smoke`` is a produce/consume round trip.
"""
