"""sqlrec.toml validation: each error names the key, the file and the expected form."""

from __future__ import annotations

import pytest

import sqlrec
from sqlrec.config import SCHEMA, load_config
from sqlrec.errors import ConfigError, DataError


def _error(project, text: str, exc=ConfigError) -> str:
    project.write("sqlrec.toml", text)
    with pytest.raises(exc) as info:
        sqlrec.validate(project.root)
    return str(info.value)


def test_unknown_key_names_key_file_and_suggestion(project):
    message = _error(project, '[inputs.events]\npath = "data/events.parquet"\n[outptu]\npath = "x"\n')
    assert "unknown key `outptu`" in message
    assert str(project.config) in message
    assert "did you mean `output`" in message


def test_unknown_nested_key(project):
    message = _error(project, '[inputs.events]\npath = "data/events.parquet"\nhive_partitions = true\n')
    assert "unknown key `inputs.events.hive_partitions`" in message
    assert "inputs.events.hive_partitioning" in message


def test_wrong_type_names_expected_form(project):
    message = _error(project, '[inputs.events]\npath = "data/events.parquet"\n[output]\nkeep_runs = "five"\n')
    assert "`output.keep_runs` must be an integer" in message
    assert 'string "five"' in message


def test_boolean_is_not_an_integer(project):
    message = _error(project, '[inputs.events]\npath = "data/events.parquet"\n[engine]\nthreads = true\n')
    assert "`engine.threads` must be an integer, got boolean true" in message


def test_choice_error_suggests(project):
    message = _error(project, '[inputs.events]\npath = "data/events.parquet"\nformat = "parqet"\n')
    assert "`inputs.events.format` must be one of \"parquet\", \"csv\"" in message
    assert "did you mean `parquet`" in message


def test_missing_required_path(project):
    message = _error(project, '[inputs.events]\nformat = "parquet"\n')
    assert "`inputs.events.path` is required" in message


def test_missing_file_names_key_and_file(project):
    message = _error(project, '[inputs.events]\npath = "data/nope.parquet"\n', DataError)
    assert "`inputs.events.path` = 'data/nope.parquet' matches no file" in message
    assert "nope.parquet" in message and str(project.config) in message


def test_glob_matching_nothing(project):
    message = _error(project, '[inputs.events]\npath = "data/*.csv"\n', DataError)
    assert "matches no file" in message


def test_unknown_canonical_column(project):
    message = _error(project, '[inputs.events]\npath = "data/events.parquet"\n[inputs.events.columns]\n'
                              'user = "customer"\n')
    assert "`inputs.events.columns.user`" in message and "did you mean `user_id`" in message


def test_mapped_column_missing_in_file_is_a_data_error(project):
    message = _error(project, '[inputs.events]\npath = "data/events.parquet"\n[inputs.events.columns]\n'
                              'user_id = "customer_id"\n', exc=DataError)
    assert "has no column `customer_id`" in message
    assert "inputs.events.columns.user_id" in message
    assert "user_id, item_id, event_type, ts" in message  # lists the columns it has


def test_required_canonical_column_missing(project):
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"customer": [1], "item_id": [2], "ts": [1]}), project.root / "data" / "e2.parquet")
    message = _error(project, '[inputs.events]\npath = "data/e2.parquet"\n', exc=DataError)
    assert "has no `user_id` column" in message
    assert 'inputs.events.columns.user_id = "<your column>"' in message


def test_invalid_toml_names_file(project):
    message = _error(project, '[inputs.events\npath = 1\n')
    assert "invalid TOML" in message and str(project.config) in message


def test_unused_var_is_an_error_with_suggestion(project):
    message = _error(project, '[inputs.events]\npath = "data/events.parquet"\n[vars]\nkk = 5\n')
    assert "`vars.kk` is not read by any stage" in message and "did you mean `k`" in message


def test_var_override_and_hash_changes(project):
    base = load_config(project.config)
    overridden = load_config(project.config, {"vars.k": 3})
    assert overridden.vars["k"] == 3
    assert base.hash != overridden.hash
    assert load_config(project.config).hash == base.hash  # stable for the same settings


def test_bad_input_name(project):
    message = _error(project, '[inputs.Events]\npath = "data/events.parquet"\n')
    assert "`inputs.Events`" in message and "not a valid name" in message


def test_schema_documents_every_key():
    for section, keys in SCHEMA.items():
        for name, key in keys.items():
            assert key.doc, f"{section}.{name} has no documentation"


def test_memory_limit_must_be_a_size(project):
    message = _error(project, '[inputs.events]\npath = "data/events.parquet"\n[engine]\nmemory_limit = "8 gigs"\n')
    assert "`engine.memory_limit` must be a size such as \"8GB\"" in message and "'8 gigs'" in message


@pytest.mark.parametrize("value", ["0", "-3", "2.5", '"10"', "true"])
def test_vars_k_must_be_a_whole_number_of_at_least_1_before_any_input_is_read(tmp_path, value):
    # the events file does not exist: the error is about k, so the config was refused before any input was read
    (tmp_path / "sqlrec.toml").write_text(f'[inputs.events]\npath = "missing.parquet"\n[vars]\nk = {value}\n')
    with pytest.raises(ConfigError, match=r"`vars.k` must be a whole number of at least 1"):
        sqlrec.run(tmp_path, progress=False)
    (tmp_path / "sqlrec.toml").write_text('[inputs.events]\npath = "missing.parquet"\n[experiments.e]\ncontrol = "A"\n'
                                          f'[experiments.e.variants.A]\n[experiments.e.variants.B]\nvars = {{ k = {value} }}\n')
    with pytest.raises(ConfigError, match=r"`experiments.e.variants.B.vars.k` must be a whole number"):
        sqlrec.validate(tmp_path)


def test_exact_sar_is_a_boolean_and_never_beside_a_knob_that_prunes(project):
    base = '[inputs.events]\npath = "data/events.parquet"\n'
    message = _error(project, base + '[vars]\ncooccurrence_exact = "yes"\n')
    assert "`vars.cooccurrence_exact` must be true or false, not string \"yes\"" in message
    message = _error(project, base + '[vars]\ncooccurrence_exact = true\ncooccurrence_neighbours = 50\n')
    assert "`vars.cooccurrence_exact = true` counts every neighbour" in message
    assert "`vars.cooccurrence_neighbours = 50` prunes them" in message and str(project.config) in message
    message = _error(project, base + '[experiments.e]\ncontrol = "A"\n[experiments.e.variants.A]\n'
                                     '[experiments.e.variants.B]\nvars = { cooccurrence_exact = true, '
                                     'cooccurrence_max_history = 100 }\n')
    assert "`experiments.e.variants.B`" in message and "`vars.cooccurrence_max_history = 100` prunes them" in message
    project.write("sqlrec.toml", base + '[vars]\ncooccurrence_exact = true\ncooccurrence_max_history = 0\n')
    sqlrec.validate(project.root)  # the same as what it stands for: no clash
