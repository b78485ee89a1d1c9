"""Mutation check (`make mutants`): break each guarantee on purpose and show that a test fails.

Each mutation replaces one exact snippet of one source file. The tree is copied to a temporary
directory (git's tracked and untracked, not ignored, files), each mutation is applied there in
turn, and the tests named for it run on the copy. A mutation is *caught* when those tests fail,
and *SURVIVED* when they pass. The script exits non-zero when a mutation survives, when a snippet
is not found exactly once (the code moved: update the mutation with it), or when the tests fail
on the tree as it is (then nothing would be shown by their failing).

    .venv/bin/python scripts/mutants.py            # all mutations
    .venv/bin/python scripts/mutants.py --list     # names and what each breaks
    .venv/bin/python scripts/mutants.py --only ack-first --only no-retry
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PER_TEST_TIMEOUT = 120
PER_RUN_TIMEOUT = 300

DELIVERY = "tests/integration/test_delivery_guarantees.py"
EVENT_STORE = "tests/integration/test_event_store.py"
SECRETS = "tests/integration/test_secrets.py"
WORKER_LOST = "tests/integration/test_model_worker_lost.py"
PERMS = "tests/integration/test_nats_permissions.py"
ROLES = "shared/bus/nats_permissions.py"
WORKER_SUBSCRIBE = (
    '        *(f"{subjects.model(t)} {subjects.MODEL_WORKERS_QUEUE}" for t in types),'
)
WORKER_PUBLISH_END = (
    '        f"{JS_API}.STREAM.CREATE.{KV_STREAM}",\n        f"{JS_API}.INFO",\n    )'
)
ADAPTER_SUBSCRIBE = "    return Role(user, Permissions(publish, (sent, _own_inbox(user))))"
KNOWLEDGE = "tests/integration/test_knowledge.py"
KNOWLEDGE_UNIT = "tests/unit/knowledge/test_embeddings_and_provider_text.py"
VECTOR_INDEX = "tests/integration/test_vector_index_maintenance.py"


@dataclass(frozen=True)
class Mutation:
    """One deliberate break: in `path`, `original` (found exactly once) becomes `replacement`;
    `tests` (pytest node ids, quickest to fail first) must then fail."""

    name: str
    breaks: str
    path: str
    original: str
    replacement: str
    tests: tuple[str, ...]


MUTATIONS = [
    Mutation(
        "search-skips-unindexed",
        "vector search: the memories the index maintainer has not indexed yet are not scanned "
        "(a memory just stored is not found until it is indexed)",
        "shared/readmodel/vector_search.py",
        'f"AND NOT indexed ORDER BY {distance} LIMIT {limit})"',
        'f"AND NOT indexed AND false ORDER BY {distance} LIMIT {limit})"',
        (f"{VECTOR_INDEX}::test_a_memory_not_yet_indexed_is_found_and_an_indexed_one_only_once",),
    ),
    Mutation(
        "index-maintainers-collide",
        "vector index maintainer: batches do not lock their rows (SKIP LOCKED), so several "
        "maintainers index the same rows again",
        "shared/projections/vector_index.py",
        "LIMIT $1 FOR UPDATE SKIP LOCKED",
        "LIMIT $1",
        (
            f"{VECTOR_INDEX}::test_several_maintainers_share_the_backlog_without_doubling_or_"
            "deadlock",
        ),
    ),
    Mutation(
        "knowledge-no-embedding",
        "knowledge: fragments are stored without their embeddings (nothing to search, a rebuild "
        "has none to restore)",
        "shared/knowledge/ingest.py",
        '{**shared_meta, "type": "fragment", "position": position}, vector,',
        '{**shared_meta, "type": "fragment", "position": position}, None,',
        (
            f"{KNOWLEDGE}::test_md_txt_and_pdf_become_documents_and_embedded_fragments",
            f"{KNOWLEDGE}::test_a_rebuild_restores_the_knowledge_and_the_agent_calls_no_model_for_it",
        ),
    ),
    Mutation(
        "knowledge-readd",
        "knowledge: an unchanged file added again is embedded and recorded again",
        "shared/knowledge/ingest.py",
        "    if await runtime.get_memory_by_id(doc_id) is not None:",
        "    if False:",
        (
            f"{KNOWLEDGE}::test_adding_an_unchanged_file_again_records_nothing_and_calls_no_model",
            f"{KNOWLEDGE}::test_a_rebuild_restores_the_knowledge_and_the_agent_calls_no_model_for_it",
        ),
    ),
    Mutation(
        "knowledge-stale-kept",
        "knowledge: a changed file's older version and its fragments are kept",
        "shared/knowledge/ingest.py",
        "    removed = await remove_documents(runtime, stale)\n    log.info",
        "    removed = 0\n    log.info",
        (f"{KNOWLEDGE}::test_a_changed_file_replaces_its_fragments",),
    ),
    Mutation(
        "knowledge-dynamic",
        "knowledge: KNOWLEDGE runs only when the model names it, too late for the first prompt",
        "plugins/knowledge/provider.py",
        "    get=get_knowledge_state,",
        "    get=get_knowledge_state,\n    dynamic=True,",
        (f"{KNOWLEDGE}::test_a_question_about_an_added_document_gets_its_fact_into_the_prompt",),
    ),
    Mutation(
        "knowledge-one-by-one",
        "knowledge: fragments are embedded one request each instead of in batches",
        "shared/knowledge/ingest.py",
        "    batched = True",
        "    batched = False",
        (f"{KNOWLEDGE_UNIT}::test_fragments_are_embedded_in_batches_of_a_list_each",),
    ),
    Mutation(
        "ack-first",
        "at-least-once: the message is acked when it is pulled, before it is processed",
        "services/orchestrator/pull_loops.py",
        "            async with self.slots.slot():\n                await self.handle(msg)",
        "            await msg.ack()\n            async with self.slots.slot():\n"
        "                await self.handle(msg)",
        (f"{DELIVERY}::test_a_crash_after_the_commit_is_redelivered_and_adds_nothing",),
    ),
    Mutation(
        "no-retry",
        "retry: a failed run is given up (and acked) instead of retried in place with back-off",
        "services/orchestrator/app.py",
        "            if await self.service.process(delivery) is Disposition.ACK:\n"
        "                return  # the loop acknowledges it",
        "            await self.service.process(delivery)\n            return",
        (f"{DELIVERY}::test_a_failed_run_is_retried_after_its_back_off_and_then_answered",),
    ),
    Mutation(
        "failure-acked",
        "retry: the orchestrator answers ACK to a run that failed",
        "services/orchestrator/delivery.py",
        "            return Disposition.NAK\n        if outcome.duplicate:",
        "            return Disposition.ACK\n        if outcome.duplicate:",
        (f"{DELIVERY}::test_a_message_failing_every_delivery_is_dead_lettered_at_the_limit",),
    ),
    Mutation(
        "no-heartbeat",
        "a long run: no in-progress heartbeat, JetStream redelivers it meanwhile",
        "services/orchestrator/pull_loops.py",
        "            await msg.in_progress()",
        "            pass",
        (f"{DELIVERY}::test_a_run_longer_than_the_ack_wait_is_not_redelivered_while_in_progress",),
    ),
    Mutation(
        "no-redelivery-check",
        "exactly-once: a redelivery of a recorded run runs the agent again",
        "services/orchestrator/message_run.py",
        "        if done is not None:\n            return done\n",
        "",
        (f"{DELIVERY}::test_a_crash_after_the_commit_is_redelivered_and_adds_nothing",),
    ),
    Mutation(
        "no-append-lock",
        "the log: positions no longer assigned under the append lock",
        "schemas/migrations/0005_append_function.sql",
        "    PERFORM pg_advisory_xact_lock(p_lock);",
        "    -- no lock",
        (
            f"{EVENT_STORE}::test_a_follower_never_skips_a_transaction_that_commits_late",
            f"{EVENT_STORE}::test_concurrent_appends_get_gap_free_positions_in_contiguous_blocks",
        ),
    ),
    Mutation(
        "no-claim-check-postgres",
        "claims: a batch whose claim is recorded still records its other events (Postgres)",
        "schemas/migrations/0005_append_function.sql",
        "        IF p_expected[i] IS NOT NULL AND p_ids[i] = ANY (existing) THEN",
        "        IF false AND p_ids[i] = ANY (existing) THEN",
        (f"{EVENT_STORE}::test_a_claim_raced_by_two_transactions_records_one_batch",),
    ),
    Mutation(
        "late-ack-unchecked",
        "a partition message held past the ack wait acknowledged without checking that "
        "JetStream has not given it to another process meanwhile",
        "services/orchestrator/pull_loops.py",
        "        if not held_long or await still_ours(self.js, msg, subjects.PARTITIONS_STREAM, "
        "durable):",
        "        if True:",
        (
            "tests/unit/test_partition_ack.py::"
            "test_a_message_held_past_the_ack_wait_and_given_away_is_not_acknowledged",
        ),
    ),
    Mutation(
        "run-left-in-a-cycle",
        "a finished run's cached reads kept (tasks whose context holds the run's scope): the "
        "run's data waits for the cyclic collector's full passes",
        "shared/runtime/run_scope.py",
        "        reads.clear()",
        "        pass",
        (
            "tests/unit/test_message_run.py::"
            "test_a_finished_run_is_freed_without_the_cyclic_collector",
        ),
    ),
    Mutation(
        "worker-queue-unbounded",
        "a model worker holding every request it receives (no limit on those waiting for a "
        "slot): an overloaded worker queues instead of saying it is busy",
        "services/model_worker/serving.py",
        "        if held_here >= self.max_concurrency + self.max_waiting:",
        "        if False:",
        (
            "tests/integration/test_model_worker.py::"
            "test_a_worker_holding_its_limit_refuses_more_at_once_as_busy",
        ),
    ),
    Mutation(
        "append-before-embeddings",
        "a message's run appended without waiting for the embeddings it left going on in the "
        "background (the log would hold its memories without them)",
        "services/orchestrator/message_run.py",
        "            await rec.settle()",
        "            pass",
        (
            "tests/unit/test_message_run.py::"
            "test_embeddings_go_on_beside_the_run_and_the_log_still_holds_them",
        ),
    ),
    Mutation(
        "update-before-lock",
        "projections: an UPDATE/DELETE written before the append lock (it can miss a row an "
        "append with an earlier position has not committed: live tables differ from a rebuild)",
        "shared/projections/postgres.py",
        '    if text[:6].upper() != "INSERT":\n        return False',
        '    if text[:6].upper() != "INSERT":\n        return True',
        (
            f"{EVENT_STORE}::"
            "test_rows_written_before_the_lock_equal_a_rebuild_when_appends_interleave",
        ),
    ),
    Mutation(
        "no-claim-check-memory",
        "claims: the same, in the in-memory double the unit tests run on",
        "shared/eventstore/memory.py",
        "if any(e.expected_version is not None and e.event_id in self._ids ",
        "if False and any(e.expected_version is not None and e.event_id in self._ids ",
        (f"{EVENT_STORE}::test_a_claim_already_recorded_keeps_the_whole_batch_out",),
    ),
    Mutation(
        "no-app-log-scrubber",
        "secrets: the orchestrator does not install its log scrubber",
        "services/orchestrator/app.py",
        "        install_log_scrubber(self.scrubber)",
        "        pass",
        (SECRETS,),
    ),
    Mutation(
        "no-log-filter",
        "secrets: the log filter lets records through unscrubbed",
        "shared/secrets.py",
        "        if scrubbed != message:",
        "        if False:",
        (SECRETS,),
    ),
    Mutation(
        "no-runtime-scrubber",
        "secrets: the agent runtime's scrubber knows no secret",
        "shared/runtime/agent_runtime.py",
        "        self.scrubber = Scrubber(secret_values(character))",
        "        self.scrubber = Scrubber()",
        (SECRETS,),
    ),
    Mutation(
        "no-run-scrub",
        "secrets: a run's events and outbox are appended unscrubbed",
        "services/orchestrator/message_run.py",
        "        rec.scrub(runtime.scrubber)  # the character's secrets never reach the log or the "
        "bus",
        "        pass",
        (SECRETS,),
    ),
    Mutation(
        "no-failover",
        "models: use_model tries only the first candidate",
        "shared/runtime/model_registry.py",
        "        for candidate in candidates:",
        "        for candidate in candidates[:1]:",
        (
            "tests/integration/test_model_failover.py"
            "::test_an_orchestrator_fails_over_from_a_slow_worker_to_the_next",
        ),
    ),
    Mutation(
        "unwatched-model-requests",
        "models: a request to a worker is a plain request/reply (no acceptance, no keep-alives)",
        "shared/runtime/model_registry.py",
        "inbox=self._inbox, liveness=",
        "inbox=None, liveness=",
        (
            f"{WORKER_LOST}::test_a_worker_killed_with_a_request_costs_seconds_not_the_attempt_timeout",
        ),
    ),
    Mutation(
        "no-accept-window",
        "models: a request nobody accepts waits for silence that never ends, up to the timeout",
        "shared/runtime/model_registry.py",
        "        accept = self.accept_seconds if candidate.accepts else None",
        "        accept = None",
        (
            f"{WORKER_LOST}::test_a_frozen_worker_that_never_accepts_is_given_up_after_the_"
            "accept_window",
        ),
    ),
    Mutation(
        "no-keepalives",
        "model worker: accepts a request but sends no keep-alive while it runs",
        "services/model_worker/serving.py",
        "                await self._working(nc, reply)",
        "                pass",
        (f"{WORKER_LOST}::test_a_slow_but_alive_worker_is_not_failed_over",),
    ),
    Mutation(
        "no-lost-resend",
        "models: a request lost with its worker is not sent again to the same provider",
        "shared/runtime/model_registry.py",
        "            sends = 1 + (self.policy.lost_retries if candidate.remote else 0)",
        "            sends = 1",
        (
            f"{WORKER_LOST}::test_a_worker_killed_with_a_request_costs_seconds_not_the_attempt_"
            "timeout[two-workers-of-one-provider]",
        ),
    ),
    Mutation(
        "no-breaker",
        "models: an open circuit breaker does not move its candidate behind the others",
        "shared/runtime/model_breaker.py",
        "        return [*closed, *opened]",
        "        return list(candidates)",
        (
            "tests/unit/test_model_breaker.py",
            f"{WORKER_LOST}::test_a_hung_worker_is_skipped_by_the_breaker_after_its_failures",
        ),
    ),
    Mutation(
        "no-task-scheduler",
        "tasks: the orchestrator does not start its agents' task schedulers",
        "services/orchestrator/app.py",
        "            runtime.start_task_scheduler()",
        "            pass",
        ("tests/integration/test_orchestrator_app.py::test_the_app_runs_queued_tasks",),
    ),
    Mutation(
        "nats-no-users",
        "NATS: the embedded server starts without its users' config (anyone may do anything)",
        "shared/embedded/nats_server.py",
        '        config = ["-c", str(self.config_file)] if self.roles is not None else []',
        "        config = []",
        (f"{PERMS}::test_a_client_without_credentials_is_refused",),
    ),
    Mutation(
        "nats-worker-reads-inbound",
        "NATS: a model worker's user may subscribe message.received",
        ROLES,
        "        _own_inbox(user),\n    )\n    return Role(user, Permissions(publish, subscribe, "
        "responses=responses))",
        '        _own_inbox(user),\n        "message.received",\n    )\n'
        "    return Role(user, Permissions(publish, subscribe, responses=responses))",
        (f"{PERMS}::test_a_worker_cannot_read_inbound_messages_nor_speak_as_the_bot",),
    ),
    Mutation(
        "nats-worker-speaks-as-bot",
        "NATS: a model worker's user may publish message.sent.<source>",
        ROLES,
        WORKER_PUBLISH_END,
        WORKER_PUBLISH_END[: -len("\n    )")] + '\n        "message.sent.>",\n    )',
        (f"{PERMS}::test_a_worker_cannot_read_inbound_messages_nor_speak_as_the_bot",),
    ),
    Mutation(
        "nats-worker-wildcard",
        "NATS: a worker may subscribe model.* in its queue group (so model.>: every provider's)",
        ROLES,
        WORKER_SUBSCRIBE,
        '        f"model.* {subjects.MODEL_WORKERS_QUEUE}",',
        (f"{PERMS}::test_a_worker_cannot_copy_every_prompt",),
    ),
    Mutation(
        "nats-worker-plain-subscription",
        "NATS: a worker may subscribe model.<TYPE> outside its queue group (copying every prompt)",
        ROLES,
        WORKER_SUBSCRIBE,
        "        *(subjects.model(t) for t in types),",
        (f"{PERMS}::test_a_worker_cannot_copy_every_prompt",),
    ),
    Mutation(
        "nats-shared-inbox",
        "NATS: every role may subscribe _INBOX.> (every reply on the bus)",
        ROLES,
        '    return f"{inbox_prefix(user)}.>"',
        '    return "_INBOX.>"',
        (f"{PERMS}::test_a_worker_cannot_read_other_roles_replies",),
    ),
    Mutation(
        "nats-worker-any-kv-key",
        "NATS: a worker may put any key of elizabus_models (announce another provider)",
        ROLES,
        '        *(f"{KV_PREFIX}.{subjects.token(t, ascii_only=True)}.{name}.*" for t in types),',
        '        f"{KV_PREFIX}.>",',
        (f"{PERMS}::test_a_worker_announces_its_own_provider_only_and_cannot_drop_streams",),
    ),
    Mutation(
        "nats-worker-js-api",
        "NATS: a worker may use the whole JetStream API (delete the streams)",
        ROLES,
        WORKER_PUBLISH_END,
        WORKER_PUBLISH_END[: -len("\n    )")] + '\n        "$JS.API.>",\n    )',
        (f"{PERMS}::test_a_worker_announces_its_own_provider_only_and_cannot_drop_streams",),
    ),
    Mutation(
        "nats-adapter-reads-prompts",
        "NATS: an adapter's user may subscribe model.>",
        ROLES,
        ADAPTER_SUBSCRIBE,
        '    return Role(user, Permissions(publish, (sent, _own_inbox(user), "model.>")))',
        (f"{PERMS}::test_an_adapter_cannot_read_prompts_nor_other_sources_nor_speak_as_the_bot",),
    ),
    Mutation(
        "nats-adapter-any-filter",
        "NATS: an adapter may create its consumer with any filter (read other sources' replies)",
        ROLES,
        '        f"{JS_API}.CONSUMER.CREATE.{stream}.{consumer}.{sent}",',
        '        f"{JS_API}.CONSUMER.CREATE.{stream}.{consumer}.>",',
        (f"{PERMS}::test_an_adapter_cannot_read_prompts_nor_other_sources_nor_speak_as_the_bot",),
    ),
    Mutation(
        "nats-one-login-for-all",
        "NATS: elizabus up gives every service the orchestrator's login",
        "services/cli/stack.py",
        "        MODEL_WORKER_SERVICE: nats_permissions.model_worker_user(provider),",
        "        MODEL_WORKER_SERVICE: nats_permissions.ORCHESTRATOR,",
        ("tests/integration/test_cli_up.py",),
    ),
]


def copy_tree(destination: Path) -> None:
    """Copy the working tree's files that git tracks or would track (no .venv, no caches)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def environment(tree: Path) -> dict[str, str]:
    """The environment for the copy: its modules first on the path, nothing from the user."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELIZABUS_")}
    env["PYTHONPATH"] = str(tree)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"
    return env


def check_imports_from(tree: Path) -> None:
    """Refuse to run if Python would import the project from anywhere but the copy."""
    probe = (
        "import services.orchestrator.app as a, shared.settings as s; print(a.__file__, s.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tree, env=environment(tree),
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    if not all(Path(p).resolve().is_relative_to(tree.resolve()) for p in out):
        sys.exit(f"mutants: the copy in {tree} is not what Python imports ({out}); not running")


_RUNS = itertools.count(1)


def run_tests(tree: Path, tests: tuple[str, ...], show: bool) -> tuple[bool, str]:
    """Run `tests` on the copy; (passed, last line of pytest's summary). A test that hangs is
    stopped by pytest-timeout (thread method: its stacks are printed, then the process exits);
    the servers a run started are stopped after it in any case."""
    basetemp = tree.parent / f"pytest-run-{next(_RUNS)}"
    command = [
        sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
        f"--basetemp={basetemp}", f"--timeout={PER_TEST_TIMEOUT}", "--timeout-method=thread",
        *tests,
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=tree, env=environment(tree), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        output, _ = proc.communicate(timeout=PER_RUN_TIMEOUT)
        lines = [line for line in output.splitlines() if line.strip()]
        passed, summary = proc.returncode == 0, (lines[-1] if lines else "no output")
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # a child of the run still holds the pipe
            proc.kill()
            output = ""
        passed, summary = False, f"no result in {PER_RUN_TIMEOUT}s (stacks above)"
        show = True
    finally:
        stop_servers_under(basetemp)
    if show or " Timeout +" in output:  # pytest-timeout stopped a hanging test: show where
        print(output)
    return passed, summary


def stop_servers_under(directory: Path) -> None:
    """Stop the processes (nats-server, postgres) whose command line names `directory`: a run
    killed by a timeout leaves the servers it started running."""
    marker = str(directory).encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError, ValueError):
            if marker in cmdline.read_bytes():
                os.kill(int(cmdline.parent.name), signal.SIGKILL)


def main() -> int:
    """Apply every (selected) mutation in turn; print a table; 0 only if all were caught."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="run only this mutation")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--show", action="store_true", help="print each pytest run's output")
    args = parser.parse_args()
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:24} {m.path:40} {m.breaks}")
        return 0
    unknown = set(args.only) - {m.name for m in MUTATIONS}
    if unknown:
        sys.exit(f"mutants: no mutation named {', '.join(sorted(unknown))} (see --list)")
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]

    with tempfile.TemporaryDirectory(prefix="elizabus-mutants-") as tmp:
        tree = Path(tmp) / "tree"
        copy_tree(tree)
        check_imports_from(tree)
        missing = [m for m in chosen if (tree / m.path).read_text().count(m.original) != 1]
        for m in missing:
            print(f"mutants: {m.name}: the snippet is not found exactly once in {m.path}")
        if missing:
            return 2

        every_test = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        started = time.monotonic()
        passed, summary = run_tests(tree, every_test, args.show)
        print(f"baseline (no mutation): {summary} ({time.monotonic() - started:.0f}s)")
        if not passed:
            print("mutants: the tests fail without any mutation: fix them first")
            return 2

        results: list[tuple[Mutation, bool, str, float]] = []
        for m in chosen:
            path = tree / m.path
            original = path.read_text()
            path.write_text(original.replace(m.original, m.replacement))
            started = time.monotonic()
            try:
                passed, summary = run_tests(tree, m.tests, args.show)
            finally:
                path.write_text(original)
            results.append((m, not passed, summary, time.monotonic() - started))
            status = "caught" if not passed else "SURVIVED"
            took = time.monotonic() - started
            print(f"{m.name:24} {status:9} {took:4.0f}s  {summary}", flush=True)

    print()
    print(f"{'mutation':24} {'result':9} breaks")
    for m, caught, _, _ in results:
        print(f"{m.name:24} {'caught' if caught else 'SURVIVED':9} {m.breaks}")
    survived = [m.name for m, caught, _, _ in results if not caught]
    print(f"\n{len(results) - len(survived)} of {len(results)} mutations caught", end="")
    print(f"; SURVIVED: {', '.join(survived)}" if survived else "")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
