"""The official Apache Kafka jars, fetched once from Maven Central with Maven.

Two sets live side by side in ``<cache_dir>/kafka_<scala>-<version>/``:

- ``libs/``: ``org.apache.kafka:kafka_<scala>`` and its runtime dependencies plus the
  log4j2 binding, i.e. the broker itself (about 43 MB);
- ``tools/``: only ``org.apache.kafka:kafka-tools`` (``MetadataQuorumCommand``), fetched
  lazily the first time a quorum is described, without its dependencies (Connect,
  Jetty, ...): the broker's ``libs/`` already hold everything the command loads.

Each set is complete once its marker file exists, so an interrupted download is
fetched again and a complete one is never touched (a running broker reads it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from proofstream.settings import BrokerSettings
from schemas.errors import ConfigError

__all__ = ["KafkaJars", "find_java"]

_BROKER_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>proofstream.devstack</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version>
    </dependency>
    <!-- Kafka 4 logs through slf4j 1.7 to log4j2: this is the binding it ships with. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_TOOLS_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>proofstream.devstack</groupId>
  <artifactId>kafka-tools-jar</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>{kafka}</version>
      <!-- the broker's libs/ provide what the quorum command needs -->
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
  </dependencies>
</project>
"""


def find_java() -> str:
    """The ``java`` executable on PATH. Raises ``ConfigError`` saying how to install it."""
    java = shutil.which("java")
    if java is None:
        raise ConfigError(
            "Java is not on PATH; Kafka 4 needs Java 17 or newer. Install it "
            "(Debian: apt-get install -y openjdk-17-jre-headless) and run the command again."
        )
    return java


class KafkaJars:
    """Where the jars of one Kafka version are cached, and how they get there."""

    def __init__(self, broker: BrokerSettings) -> None:
        self._cfg = broker
        self.root = broker.cache_dir / f"kafka_{broker.scala_version}-{broker.kafka_version}"

    @property
    def libs_dir(self) -> Path:
        return self.root / "libs"

    @property
    def tools_dir(self) -> Path:
        return self.root / "tools"

    def classpath(self, *, tools: bool = False) -> str:
        """The ``-cp`` argument: the broker jars, plus the tools jar when asked."""
        path = f"{self.libs_dir}/*"
        return f"{path}:{self.tools_dir}/*" if tools else path

    def fetch(self) -> Path:
        """Download the broker jars unless the cache holds them; return ``libs/``.

        Idempotent. Raises ``ConfigError`` when Maven is missing or the download fails
        (the message carries Maven's last lines).
        """
        pom = _BROKER_POM.format(
            scala=self._cfg.scala_version,
            kafka=self._cfg.kafka_version,
            log4j=self._cfg.log4j_version,
        )
        self._fetch(pom, "pom.xml", self.libs_dir, self.root / ".complete", transitive=True)
        return self.libs_dir

    def fetch_tools(self) -> Path:
        """Download the ``kafka-tools`` jar (no dependencies) unless cached; return ``tools/``.

        Idempotent; fetches the broker jars first. Raises ``ConfigError`` like :meth:`fetch`.
        """
        self.fetch()
        pom = _TOOLS_POM.format(kafka=self._cfg.kafka_version)
        self._fetch(pom, "tools-pom.xml", self.tools_dir, self.root / ".tools-complete", False)
        return self.tools_dir

    def _fetch(self, pom: str, pom_name: str, out: Path, marker: Path, transitive: bool) -> None:
        if marker.exists():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ConfigError(
                "Maven (mvn) is not on PATH; it fetches the Kafka jars from Maven Central. "
                "Install it (Debian: apt-get install -y maven) and run the command again."
            )
        self.root.mkdir(parents=True, exist_ok=True)
        pom_file = self.root / pom_name
        pom_file.write_text(pom)
        if out.exists():
            shutil.rmtree(out)  # a partial download: the marker was never written
        command = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom_file),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={out}",
            "-DincludeScope=runtime",
        ]
        if not transitive:
            command.append("-DexcludeTransitive=true")
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise ConfigError(
                f"Maven could not fetch the Kafka {self._cfg.kafka_version} jars "
                f"({pom_file}):\n{tail}"
            )
        marker.write_text(self._cfg.kafka_version)
