# Test infrastructure: a local Apache Kafka (KRaft) and a private PostgreSQL on
# 127.0.0.1. Include from the top-level Makefile:
#
#   include infra/infra.mk
#
#   make kafka-up               # 1 node, bootstrap 127.0.0.1:9092
#   make kafka-up BROKERS=3     # 3 nodes, 127.0.0.1:9092,9093,9094
#   make kafka-up SECURE=1      # SASL/SCRAM-SHA-512 + ACLs, principals provisioned
#   make kafka-down
#   make postgres-up            # postgresql://cases:cases@127.0.0.1:55432/cases
#   make postgres-down
#
# See infra/kafka/README.md for the environment variables the scripts honour.

# Directory of this fragment, taken at include time (relative to the includer).
INFRA_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

BROKERS ?= 1
SECURE ?= 0

.PHONY: kafka-up kafka-down postgres-up postgres-down infra-up infra-down

kafka-up:
	BROKERS=$(BROKERS) SECURE=$(SECURE) bash $(INFRA_DIR)/kafka/up.sh

kafka-down:
	bash $(INFRA_DIR)/kafka/down.sh

postgres-up:
	bash $(INFRA_DIR)/postgres/up.sh

postgres-down:
	bash $(INFRA_DIR)/postgres/down.sh

infra-up: kafka-up postgres-up

infra-down: kafka-down postgres-down
