#!/usr/bin/env bash
# Run one of Kafka's own CLI tools with the cached jars (what bin/kafka-*.sh
# do in the release tarball), e.g.
#
#   bash infra/kafka/kafka-tool.sh topics --bootstrap-server 127.0.0.1:9092 --list
#   bash infra/kafka/kafka-tool.sh console-producer --bootstrap-server 127.0.0.1:9092 --topic t
#   bash infra/kafka/kafka-tool.sh org.apache.kafka.tools.ClusterTool cluster-id --bootstrap-server 127.0.0.1:9092
#
# The first argument is a short name below or a fully qualified main class.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

(($# >= 1)) || { sed -n '2,9p' "$0"; exit 2; }
tool="$1"; shift
case "$tool" in
  topics)              main=org.apache.kafka.tools.TopicCommand ;;
  console-producer)    main=org.apache.kafka.tools.ConsoleProducer ;;
  console-consumer)    main=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
  consumer-groups)     main=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
  configs)             main=kafka.admin.ConfigCommand ;;
  acls)                main=org.apache.kafka.tools.AclCommand ;;
  metadata-quorum)     main=org.apache.kafka.tools.MetadataQuorumCommand ;;
  broker-api-versions) main=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
  cluster)             main=org.apache.kafka.tools.ClusterTool ;;
  storage)             main=kafka.tools.StorageTool ;;
  *.*)                 main="$tool" ;;
  *) die "unknown tool '$tool' (topics, console-producer, console-consumer, consumer-groups, configs, acls, metadata-quorum, broker-api-versions, cluster, storage, or a main class)" ;;
esac

install_jars
kafka_java "$main" "$@"
