"""Hostile input, searched for: property tests with hypothesis on the request, the form POST and every
parser of Slurm's output. Nothing may crash: a refusal names its field, an unknown state reads as
"unknown" words, never as an exception."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyterhub_slurm_interactive.choice.request import FIELDS, InvalidRequest, from_form, parse_request
from jupyterhub_slurm_interactive.cluster.availability import build_table
from jupyterhub_slurm_interactive.session.states import end_message, pending_message
from jupyterhub_slurm_interactive.slurm import commands as slurm
from jupyterhub_slurm_interactive.web.bodies import clean_text

from .playback import fixture
from .test_request import DEFAULTS, LIMITS

EXAMPLES = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30) | st.floats(allow_nan=True)
    | st.text(max_size=80),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)
field_names = st.sampled_from(FIELDS) | st.text(max_size=20)


@EXAMPLES
@given(st.dictionaries(field_names, json_values, max_size=10))
def test_any_json_request_is_accepted_in_bounds_or_refused_by_field(options):
    try:
        request = parse_request(options, LIMITS, DEFAULTS)
    except InvalidRequest as e:
        assert e.field and e.message and e.errors and e.field in e.errors
        return
    assert 1 <= request.cores <= LIMITS.max_cores and 0 <= request.gpus <= LIMITS.max_gpus
    assert LIMITS.min_memory_mb <= request.memory <= LIMITS.max_memory_mb and 1 <= request.hours <= LIMITS.max_hours
    assert request.release in LIMITS.releases and request.account in LIMITS.accounts
    assert request.reservation in ("", *LIMITS.reservations)


@EXAMPLES
@given(json_values)
def test_a_request_that_is_not_an_object_is_refused(body):
    if isinstance(body, dict):
        return
    try:
        parse_request(body, LIMITS, DEFAULTS)
    except InvalidRequest as e:
        assert e.field == "options"
    else:
        raise AssertionError("accepted a request that is not an object")


@EXAMPLES
@given(st.dictionaries(field_names, st.lists(st.text(max_size=40), min_size=1, max_size=3), max_size=10))
def test_any_form_post_with_repeated_fields_and_unicode(formdata):
    try:
        parse_request(from_form(formdata), LIMITS, DEFAULTS)
    except InvalidRequest as e:
        assert e.errors
        repeated = [k for k, v in formdata.items() if len(v) > 1 and k in FIELDS]
        assert all(k in e.errors for k in repeated)


def mangle(draw, text: str) -> str:
    """Recorded output, cut short, with lines dropped or repeated, fields added or garbled."""
    lines = text.splitlines()
    out = []
    for line in lines:
        action = draw(st.sampled_from(["keep", "keep", "cut", "drop", "twice", "extra", "garble"]))
        if action == "cut":
            line = line[: draw(st.integers(0, len(line)))]
        elif action == "drop":
            continue
        elif action == "twice":
            out.append(line)
        elif action == "extra":
            line += draw(st.sampled_from([" Extra=1", "|extra|column", " State=WEIRD+NEW", " Gres=gpu:x:y(z"]))
        elif action == "garble":
            line = draw(st.text(max_size=len(line) or 1))
        out.append(line)
    return "\n".join(out)


mangled = st.composite(lambda draw, name: mangle(draw, fixture(name)))


@EXAMPLES
@given(mangled("scontrol_show_node_busy.txt"), mangled("scontrol_show_reservation.txt"))
def test_node_and_reservation_parsers_and_the_table_never_crash(nodes_text, reservations_text):
    nodes = slurm.parse_nodes(nodes_text)
    reservations = slurm.parse_reservations(reservations_text)
    table = build_table(nodes, reservations, "interactive")
    assert all(row.nodes >= 0 and row.free_cores >= 0 and row.free_memory_mb >= 0 for row in table.rows)
    json.dumps(table.as_json())


@EXAMPLES
@given(mangled("squeue_mixed.txt"))
def test_the_queue_parser_and_its_words_never_crash(text):
    for entry in slurm.parse_squeue(text):
        assert isinstance(entry.pending, bool) and isinstance(entry.running, bool)
        message = end_message(entry.state, entry.job_id, entry.nodes)
        assert message.startswith("Your session")
        pending_message(entry.reason, entry.start_time, 1, 100, 1)
        slurm.parse_duration(entry.time_left)


@EXAMPLES
@given(mangled("scontrol_show_job_running.txt"), mangled("scontrol_show_partition.txt"),
       mangled("sacctmgr_assoc_alice.txt"))
def test_job_partition_and_account_parsers_never_crash(job_text, partition_text, assoc_text):
    slurm.parse_records(job_text)
    slurm.parse_records(partition_text)
    from jupyterhub_slurm_interactive.cluster.views import parse_accounts
    parse_accounts(assoc_text, "proj-a\n")


@EXAMPLES
@given(st.text(max_size=200))
def test_any_text_as_any_slurm_field(text):
    slurm.parse_gres_count(text)
    slurm.parse_duration(text)
    slurm.expand_hostlist(text[:40]) if len(text) < 40 else None
    slurm.parse_key_values(text)
    end_message(text, "1", "node01")
    pending_message(text, text)
    try:
        slurm.parse_sbatch_job_id(text)
    except ValueError:
        pass
    cleaned = clean_text(text)
    assert "\x1b" not in cleaned and "\r" not in cleaned


def test_unknown_states_read_as_words():
    assert end_message("SOMETHING_NEW", "7") == "Your session (Slurm job 7) ended: its job ended (SOMETHING_NEW)."
    assert pending_message("BrandNewReason").startswith("Waiting (BrandNewReason)")


@EXAMPLES
@given(st.dictionaries(field_names, json_values, max_size=10))
def test_a_site_without_accounts_refuses_any_account_by_name(options):
    from dataclasses import replace
    try:
        request = parse_request(options, replace(LIMITS, accounts=()), DEFAULTS)
    except InvalidRequest as e:
        assert e.field in e.errors and all(k.strip() for k in e.errors)
        return
    assert request.account == ""
