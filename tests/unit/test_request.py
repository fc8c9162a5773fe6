"""Validation of a session's request: only allowed values pass."""

import pytest

from jupyterhub_slurm_interactive.choice.request import InvalidRequest, Limits, from_form, parse_request

LIMITS = Limits(
    max_cores=8,
    max_memory_mb=30000,
    max_gpus=2,
    max_hours=8,
    accounts=("proj-a", "proj-b"),
    reservations=("course",),
    releases=("2026.11", "2026.05"),
    interfaces={"2026.11": ("lab", "notebook"), "2026.05": ("lab",)},
)
DEFAULTS = {"cores": 1, "memory": 2000, "gpus": 0, "hours": 1, "release": "2026.11"}


def parse(**options):
    return parse_request(options, LIMITS, DEFAULTS)


def test_defaults():
    r = parse()
    assert (r.cores, r.memory, r.gpus, r.hours, r.release, r.ui, r.account, r.reservation) == (
        1, 2000, 0, 1, "2026.11", "lab", "proj-a", "")


def test_form_lists_and_json_values():
    r = parse_request(from_form(
        {"cores": ["2"], "memory": ["1500"], "gpus": ["1"], "hours": ["3"], "account": ["proj-b"],
         "reservation": [""], "release": ["2026.05"], "ui": ["lab"]}),
        LIMITS, DEFAULTS)
    assert (r.cores, r.memory, r.gpus, r.hours, r.account, r.release) == (2, 1500, 1, 3, "proj-b", "2026.05")
    assert parse(cores=8, gpus=2, hours=8, memory=30000, reservation="course").reservation == "course"


@pytest.mark.parametrize(
    "field, value",
    [
        ("cores", "0"), ("cores", "9"), ("cores", "-1"), ("cores", "1.5"), ("cores", 1.0), ("cores", "2; rm -rf ~"),
        ("cores", "2\n#SBATCH --uid=0"), ("cores", "99999999999999999999"), ("cores", True), ("cores", ["1", "2"]),
        ("cores", {"a": 1}), ("memory", "30001"), ("memory", "1G"), ("gpus", "3"), ("gpus", "-1"), ("hours", "0"),
        ("hours", "9"), ("hours", " 1e3"),
        ("account", "proj-c"), ("account", "proj-a;id"), ("account", "proj-a\n#SBATCH -p debug"), ("account", ["proj-a", "x"]),
        ("account", 5), ("reservation", "maint"), ("reservation", "course$(id)"),
        ("release", "../../etc"), ("release", "/opt/releases/2026.11"), ("release", "2099.01"),
        ("ui", "terminal"), ("ui", "notebook;x"), ("colour", "red"), ("__class__", "x"),
    ],
)
def test_refused(field, value):
    with pytest.raises(InvalidRequest) as e:
        parse(**{field: value})
    assert e.value.field == field
    assert e.value.message


def test_interface_must_belong_to_the_release():
    assert parse(release="2026.11", ui="notebook").ui == "notebook"
    with pytest.raises(InvalidRequest) as e:
        parse(release="2026.05", ui="notebook")
    assert e.value.field == "ui"


def test_a_field_given_twice_in_a_form():
    with pytest.raises(InvalidRequest) as e:
        parse_request(from_form({"cores": ["1", "2"]}), LIMITS, DEFAULTS)
    assert e.value.field == "cores"


def test_every_wrong_field_is_reported():
    with pytest.raises(InvalidRequest) as e:
        parse(cores="x", hours="99", colour="red")
    assert set(e.value.errors) == {"cores", "hours", "colour"}


def test_not_a_dict():
    with pytest.raises(InvalidRequest):
        parse_request(["cores", 1], LIMITS, DEFAULTS)


def test_site_without_accounts():
    limits = Limits(max_cores=8, max_memory_mb=1000, max_gpus=0, max_hours=1, releases=("r",))
    assert parse_request({}, limits, {**DEFAULTS, "release": "r", "memory": 500}).account == ""
    with pytest.raises(InvalidRequest):
        parse_request({"account": "x"}, limits, {**DEFAULTS, "release": "r", "memory": 500})


@pytest.mark.parametrize("field, value", [("cores", "0"), ("memory", "1G"), ("gpus", ["1", "2"]), ("hours", True),
                                          ("account", "proj-c"), ("release", "../x"), ("colour", "red")])
def test_every_refusal_is_a_sentence(field, value):
    with pytest.raises(InvalidRequest) as e:
        parse(**{field: value})
    message = e.value.errors[field]
    assert message[0].isupper() or message[0] in "'\"", message
    assert message.endswith("."), message


def test_an_emptied_field_of_the_form_is_marked_not_replaced():
    # over REST an empty value takes the default; in the form, where the field was shown, it is marked
    assert parse(cores="").cores == DEFAULTS["cores"]
    with pytest.raises(InvalidRequest) as e:
        parse_request({"cores": "", "memory": "", "hours": "2"}, LIMITS, DEFAULTS, blank_is_error=True)
    assert e.value.errors == {"cores": "Enter a whole number of cores, from 1 to 8.",
                              "memory": "Enter a whole number of MB, from 100 to 30,000."}


@pytest.mark.parametrize("field, value, message", [
    # more than any node has, however many digits: refused as too much, with the bounds and why
    ("memory", "1000000000", "Memory must be from 100 to 30,000 MB (30,000 is the most a node has); "
                             "you asked for 1,000,000,000."),
    ("cores", "0", "The number of cores must be from 1 to 8 cores; you asked for 0."),
    ("hours", "99", "Time must be from 1 to 8 hours (8 is the longest a session may run); you asked for 99."),
])
def test_a_number_out_of_bounds_is_refused_for_the_real_reason(field, value, message):
    with pytest.raises(InvalidRequest) as e:
        parse(**{field: value})
    assert e.value.errors == {field: message}


@pytest.mark.parametrize("value, mail", [(None, False), (True, True), (False, False), ("on", True), ("", False),
                                         ("true", True), ("OFF", False)])
def test_email_when_it_starts_is_a_box_ticked_or_not(value, mail):
    options = {} if value is None else {"mail": value}
    assert parse(**options).mail is mail


@pytest.mark.parametrize("value", ["maybe", 1, [True], "on; rm"])
def test_anything_else_for_the_box_is_refused_naming_it(value):
    with pytest.raises(InvalidRequest) as e:
        parse(mail=value)
    assert e.value.field == "mail"


def test_the_box_is_saved_and_posted_again_as_the_form_posts_it():
    from jupyterhub_slurm_interactive.choice.request import ResourceRequest

    r = parse(mail="on")
    assert r.as_options()["mail"] is True and ResourceRequest.from_saved(r.as_options()) == r
    assert r.form_value("mail") == "on" and parse().form_value("mail") == ""
    saved = {**parse().as_options()}
    del saved["mail"]  # saved before the box existed
    assert ResourceRequest.from_saved(saved).mail is False
    assert ResourceRequest.from_saved({**saved, "mail": "yes"}) is None
