"""Who may do what on a secured broker: the principals' SCRAM credentials and their
least-privilege ACLs (SPEC section 9).

The broker allows nothing that an ACL does not allow (`allow.everyone.if.no.acl.found=false`),
so every grant a client needs is written here, as admin:

- each service (`svc-<service>`) writes its own case topic and the dead-letter topic, reads
  its leaders' topics, and uses its own consumer group `cases-<service>`;
- reporting's analytics agent (`svc-analytics`, faust) reads every case topic, writes the
  analytics topics, owns its group and its table's changelog topics (`cases-analytics-`
  prefixed: it resumes from them, and deletes one to start again from the beginning);
- the command line (`cases-cli`) reads the case, dead-letter and analytics topics (replay,
  verify, rebuild) and describes the services' groups (lag);
- a reviewer partner (`partner-<name>`) reads its requests topic with groups named
  `partner.<name>.` and anything after, writes its opinions topic, and nothing else; review's
  partner gateway (`svc-review`) writes the partner's requests and reads its opinions.

Technology only: which service reads which is the composition root's knowledge, passed in
as data (`leaders`). On a plain broker nothing here authenticates; the functions create
the topics and say `"secured": false`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    NewTopic,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from events.topics import (
    ANALYTICS_TOPIC,
    ANALYTICS_WEEKLY_TOPIC,
    DEADLETTER_TOPIC,
    SERVICES,
    case_topic,
    partner_group_prefix,
    partner_opinions_topic,
    partner_requests_topic,
)
from services.common.errors import BadInput
from services.runtime.kafka.config import (
    ADMIN_PRINCIPAL,
    CLI_PRINCIPAL,
    SERVICE_PRINCIPALS,
    KafkaSettings,
    secrets_dir,
)
from services.runtime.kafka.consumer import group_id
from services.runtime.kafka.topics import broker_count, create_missing, wanted_topics

#: A partner's name is part of topic, group and user names: lower-case letters, digits and
#: dashes only, so that no name can reach into another partner's prefix.
PARTNER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}$")
PARTNER_USER_PREFIX = "partner-"
#: The service whose worker runs the partner gateway (services/review/partner_gateway.py),
#: and the group it commits the opinions' offsets under.
GATEWAY_SERVICE = "review"
GATEWAY_GROUP = "cases-review-partners"
#: The faust agent (services/reporting/analytics/agent.py APP_ID = group_id("analytics")):
#: its group, and the prefix of its internal topics (its table's changelog).
ANALYTICS = "analytics"
#: Packs and opinions are transport, not the record (review keeps what it sent as
#: events): a month covers any SLA with room for a partner's outage.
PARTNER_RETENTION = {"retention.ms": str(30 * 24 * 3600 * 1000), "cleanup.policy": "delete"}
MIN_PASSWORD = 8

Grant = tuple[str, ACLOperation, ResourceType, str, ACLResourcePatternType]
LITERAL = ACLResourcePatternType.LITERAL
PREFIXED = ACLResourcePatternType.PREFIXED
TOPIC, GROUP = ResourceType.TOPIC, ResourceType.GROUP
READ, WRITE, DESCRIBE = ACLOperation.READ, ACLOperation.WRITE, ACLOperation.DESCRIBE


def user(principal: str) -> str:
    return f"User:{principal}"


def partner_user(name: str) -> str:
    return f"{PARTNER_USER_PREFIX}{name}"


def admin_client(settings: KafkaSettings) -> KafkaAdminClient:
    return KafkaAdminClient(client_id="cases-admin", **settings.client_config(ADMIN_PRINCIPAL))


# -- who may do what -------------------------------------------------------------------------


def reads(principal: str, topic: str) -> list[Grant]:
    return [(principal, op, TOPIC, topic, LITERAL) for op in (READ, DESCRIBE)]


def writes(principal: str, topic: str) -> list[Grant]:
    # WRITE is all an idempotent producer needs (KAFKA-10619), no IDEMPOTENT_WRITE on the cluster.
    return [(principal, op, TOPIC, topic, LITERAL) for op in (WRITE, DESCRIBE)]


def uses_group(principal: str, group: str, pattern: ACLResourcePatternType = LITERAL) -> list[Grant]:
    return [(principal, READ, GROUP, group, pattern)]


def output_topics(service: str) -> list[str]:
    return [ANALYTICS_TOPIC, ANALYTICS_WEEKLY_TOPIC] if service == ANALYTICS else [case_topic(service)]


def service_grants(service: str, leaders: Iterable[str]) -> list[Grant]:
    principal = SERVICE_PRINCIPALS[service]
    grants = [grant for topic in output_topics(service) for grant in writes(principal, topic)]
    grants += [grant for leader in leaders for grant in reads(principal, case_topic(leader))]
    grants += uses_group(principal, group_id(service))
    if service == ANALYTICS:
        # Its table's changelog (faust's `<app id>-<table>-changelog`, so prefixed by the app
        # id `cases-analytics-`) it creates, reads and writes; it deletes the changelog when
        # its group has no committed offsets, and its group when the changelog is missing,
        # so that the two stay one state (services/reporting/analytics/agent.py).
        grants.append((principal, ACLOperation.DELETE, GROUP, group_id(service), LITERAL))
        grants += [(principal, op, TOPIC, f"{group_id(service)}-", PREFIXED)
                   for op in (ACLOperation.CREATE, READ, WRITE, DESCRIBE, ACLOperation.DELETE)]
    else:
        grants += writes(principal, DEADLETTER_TOPIC)
    if service == GATEWAY_SERVICE:
        grants += uses_group(principal, GATEWAY_GROUP)
    return grants


def cli_grants(services: Iterable[str]) -> list[Grant]:
    """Reads for replay, verify, rebuild and the dead letters; DESCRIBE on the groups for
    their lag (OffsetFetch). No WRITE anywhere: commands change the services' stores."""
    grants = [grant for s in SERVICES for grant in reads(CLI_PRINCIPAL, case_topic(s))]
    for topic in (DEADLETTER_TOPIC, ANALYTICS_TOPIC, ANALYTICS_WEEKLY_TOPIC):
        grants += reads(CLI_PRINCIPAL, topic)
    groups = [group_id(s) for s in services] + [GATEWAY_GROUP]
    grants += [(CLI_PRINCIPAL, DESCRIBE, GROUP, group, LITERAL) for group in groups]
    return grants


def partner_grants(name: str) -> list[Grant]:
    principal = partner_user(name)
    return [
        *[(principal, op, TOPIC, partner_requests_topic(name), LITERAL) for op in (READ, DESCRIBE)],
        *[(principal, op, TOPIC, partner_opinions_topic(name), LITERAL) for op in (WRITE, DESCRIBE)],
        *uses_group(principal, partner_group_prefix(name), PREFIXED),
    ]


def gateway_grants(name: str) -> list[Grant]:
    principal = SERVICE_PRINCIPALS[GATEWAY_SERVICE]
    return [*writes(principal, partner_requests_topic(name)),
            *reads(principal, partner_opinions_topic(name)),
            *uses_group(principal, GATEWAY_GROUP)]


def as_acl(grant: Grant) -> ACL:
    principal, operation, resource, name, pattern = grant
    return ACL(user(principal), "*", operation, ACLPermissionType.ALLOW,
               ResourcePattern(resource, name, pattern))


def granted(admin: KafkaAdminClient, principal: str) -> list[ACL]:
    found, _ = admin.describe_acls(ACLFilter(
        user(principal), None, ACLOperation.ANY, ACLPermissionType.ANY,
        ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)))
    return list(found)


def prune(admin: KafkaAdminClient, principals: list[str], wanted: list[Grant]) -> int:
    """Delete what the principals were granted beyond `wanted` (an older grant this code no
    longer makes), so that running provisioning again converges on least privilege. Grants
    on partner topics are provision_partner's and revoke_partner's business: left alone."""
    keep = set(wanted)
    stale = []
    for principal in principals:
        for acl in granted(admin, principal):
            pattern = acl.resource_pattern
            grant = (principal, acl.operation, pattern.resource_type, pattern.resource_name,
                     pattern.pattern_type)
            if grant in keep or pattern.resource_name.startswith("partner."):
                continue
            stale.append(ACLFilter(acl.principal, acl.host, acl.operation, acl.permission_type,
                                   ResourcePatternFilter(pattern.resource_type, pattern.resource_name,
                                                         pattern.pattern_type)))
    if stale:
        admin.delete_acls(stale)
    return len(stale)


def apply_grants(admin: KafkaAdminClient, grants: list[Grant]) -> int:
    """Create the ACLs; one that exists already is left as it is. Returns how many were asked."""
    result = admin.create_acls([as_acl(g) for g in grants])
    if result["failed"]:
        raise RuntimeError(f"the broker refused {len(result['failed'])} ACL(s): "
                           f"{sorted({type(e).__name__ if isinstance(e, Exception) else str(e) for e in result['failed']})}")
    return len(grants)


# -- credentials -----------------------------------------------------------------------------


def own_password(principal: str) -> str:
    """The principal's password from the secrets directory, made (random, mode 0600) on
    first use, so that provisioning and the clients read the same file."""
    path = secrets_dir() / f"{principal}.json"
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        body = json.dumps({"username": principal, "password": secrets.token_hex(16)})
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(body + "\n")
    return str(json.loads(path.read_text())["password"])


def set_password(admin: KafkaAdminClient, principal: str, password: str) -> None:
    errors = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(principal, ScramMechanism.SCRAM_SHA_512, password)])
    if errors.get(principal):
        raise RuntimeError(f"SCRAM credentials for {principal} refused: {errors[principal]}")


# -- the services ----------------------------------------------------------------------------


def provision_services(settings: KafkaSettings, leaders: Mapping[str, list[str]]) -> dict[str, Any]:
    """The case topics; on a secured broker also each service's and the command line's
    SCRAM credentials and ACLs. `leaders` maps each service (and "analytics", the agent)
    to the services whose topics it reads. Idempotent: run again, it changes nothing
    (passwords are re-applied from the secrets files) but remove grants these principals
    no longer need."""
    admin = admin_client(settings)
    try:
        created = create_missing(admin, wanted_topics(settings, broker_count(admin)))
        if not settings.secured:
            return {"secured": False, "created_topics": created}
        principals = [SERVICE_PRINCIPALS[s] for s in leaders] + [CLI_PRINCIPAL]
        for principal in principals:
            set_password(admin, principal, own_password(principal))
        grants = [g for service, its_leaders in leaders.items()
                  for g in service_grants(service, its_leaders)]
        grants += cli_grants(leaders)
        return {"secured": True, "created_topics": created, "principals": principals,
                "acls": apply_grants(admin, grants), "stale_acls_removed": prune(admin, principals, grants)}
    finally:
        admin.close()


# -- reviewer partners -----------------------------------------------------------------------


def checked_name(name: str) -> str:
    if not isinstance(name, str) or not PARTNER_NAME.match(name):
        raise BadInput("NAME", "a partner name is 2 to 41 lower-case letters, digits or dashes, "
                               "starting with a letter or digit")
    return name


def partner_topics(settings: KafkaSettings, name: str, brokers: int) -> list[NewTopic]:
    replication = settings.replication_factor or min(3, brokers)
    return [NewTopic(topic, settings.partitions, replication, topic_configs=PARTNER_RETENTION)
            for topic in (partner_requests_topic(name), partner_opinions_topic(name))]


def provision_partner(settings: KafkaSettings, name: str, password: str,
                      specialties: list[str]) -> dict[str, Any]:
    """A partner's two topics; on a secured broker also its SCRAM user `partner-<name>`
    with `password` and its ACLs, and the partner gateway's grants on its topics. Idempotent
    (a second call sets the password again). `specialties` are the domain's business: they
    are not part of the broker's grants."""
    checked_name(name)
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise BadInput("password", f"needs at least {MIN_PASSWORD} characters")
    admin = admin_client(settings)
    try:
        create_missing(admin, partner_topics(settings, name, broker_count(admin)))
        if settings.secured:
            set_password(admin, partner_user(name), password)
            apply_grants(admin, partner_grants(name) + gateway_grants(name))
    finally:
        admin.close()
    return {"partner": name, "principal": user(partner_user(name)),
            "requests_topic": partner_requests_topic(name),
            "opinions_topic": partner_opinions_topic(name), "secured": settings.secured}


def revoke_partner(settings: KafkaSettings, name: str) -> dict[str, Any]:
    """Delete the partner's ACLs, the gateway's grants on its topics and its SCRAM credentials.
    The topics stay, for the audit of what was sent and answered (they expire with their
    retention). Idempotent: revoking a partner that has nothing left is not an error."""
    checked_name(name)
    if not settings.secured:
        return {"partner": name, "revoked_acls": 0, "credentials_deleted": False, "secured": False}
    admin = admin_client(settings)
    try:
        filters = [ACLFilter(user(partner_user(name)), None, ACLOperation.ANY, ACLPermissionType.ANY,
                             ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))]
        gateway = user(SERVICE_PRINCIPALS[GATEWAY_SERVICE])
        filters += [ACLFilter(gateway, None, ACLOperation.ANY, ACLPermissionType.ANY,
                              ResourcePatternFilter(TOPIC, topic, LITERAL))
                    for topic in (partner_requests_topic(name), partner_opinions_topic(name))]
        revoked = sum(len(matched) for _, matched, _ in admin.delete_acls(filters))
        errors = admin.alter_user_scram_credentials(
            [UserScramCredentialDeletion(partner_user(name), ScramMechanism.SCRAM_SHA_512)])
        # A user with no credentials left answers "not found": already revoked.
        deleted = not errors.get(partner_user(name))
    finally:
        admin.close()
    return {"partner": name, "revoked_acls": revoked, "credentials_deleted": deleted, "secured": True}


def partner_names(settings: KafkaSettings) -> list[str]:
    """The partners the broker knows: SCRAM users `partner-<name>` on a secured broker,
    else those with a requests topic."""
    admin = admin_client(settings)
    try:
        if settings.secured:
            users = admin.describe_user_scram_credentials()
            names = [u[len(PARTNER_USER_PREFIX):] for u, info in users.items()
                     if u.startswith(PARTNER_USER_PREFIX) and not info["error"]]
        else:
            found = (re.fullmatch(r"partner\.([a-z0-9-]+)\.requests\.v1", t) for t in admin.list_topics())
            names = [m.group(1) for m in found if m]
    finally:
        admin.close()
    return sorted(n for n in names if PARTNER_NAME.match(n))


def partner_principals(settings: KafkaSettings) -> list[str]:
    """`User:partner-<name>` for every partner the broker knows."""
    return [user(partner_user(name)) for name in partner_names(settings)]
