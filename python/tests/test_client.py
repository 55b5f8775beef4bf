"""The Python package against real PostgreSQL and devvault (see conftest.py): the seed's code,
each return type with its values, .sql files, partitions, writes, the exception classes (with
no secret in their messages), and the GIL released while a read waits on the database."""

import datetime
import decimal
import io
import sys
import threading
import time

import pandas
import polars
import pyarrow
import pytest

import dataverk
from conftest import DENIED_CREDS_PATH, SEED_SETTINGS, SHORT_CREDS_PATH, SHORT_TTL_SECONDS


def test_the_seeds_code_verbatim(seed_dir):
    from dataverk import Client
    dv = Client()
    df = dv.read_sql("postgres_database", "SELECT * FROM flights")

    assert isinstance(df, pandas.DataFrame)
    assert df.shape == (1000, 6)
    assert list(df.columns) == ["id", "carrier", "dep_delay", "distance", "day", "time_hour"]
    assert sorted(df["id"]) == list(range(1, 1001))
    dv.close()


def test_pandas_values(seed_dir):
    with dataverk.Client() as dv:
        df = dv.read_sql(
            "postgres_database",
            "SELECT id, carrier, dep_delay, time_hour, current_user AS db_user "
            "FROM flights WHERE id IN (3, 4, 10) ORDER BY id",
        )
    assert df["id"].tolist() == [3, 4, 10]
    assert pandas.isna(df["carrier"].iloc[0])
    assert df["carrier"].iloc[1:].tolist() == ["UA", "B6"]
    assert df["dep_delay"].iloc[0] == 1.5
    assert pandas.isna(df["dep_delay"].iloc[2])
    assert df["time_hour"].iloc[0] == pandas.Timestamp("2013-01-01 08:00:00", tz="UTC")
    # The read ran as a user Vault issued, not as anyone configured by hand.
    assert df["db_user"].iloc[0].startswith("v-")
    # The frame is the caller's to change in place, as pandas.read_sql's is.
    df.loc[0, "id"] = 30
    df["dep_delay"] += 1
    assert df["id"].tolist() == [30, 4, 10]
    assert df["dep_delay"].iloc[0] == 2.5


def test_arrow_values(seed_dir):
    with dataverk.Client() as dv:
        table = dv.read_sql(
            "postgres_database",
            "SELECT id, distance, day FROM flights WHERE id <= 2 ORDER BY id",
            return_type="arrow",
        )
    assert isinstance(table, pyarrow.Table)
    assert table.schema.field("id").type == pyarrow.int32()
    assert table.schema.field("distance").type == pyarrow.decimal128(8, 2)
    assert table.schema.field("day").type == pyarrow.date32()
    assert table.to_pydict() == {
        "id": [1, 2],
        "distance": [decimal.Decimal("1.25"), decimal.Decimal("2.50")],
        "day": [datetime.date(2013, 1, 2), datetime.date(2013, 1, 3)],
    }


def test_polars_values(seed_dir):
    with dataverk.Client() as dv:
        df = dv.read_sql(
            "postgres_database",
            "SELECT carrier, count(*)::int8 AS n FROM flights GROUP BY carrier ORDER BY carrier NULLS LAST",
            return_type="polars",
        )
    assert isinstance(df, polars.DataFrame)
    assert df.to_dict(as_series=False) == {"carrier": ["AA", "B6", "UA", None], "n": [250, 250, 250, 250]}


def test_empty_result_keeps_the_columns(seed_dir):
    with dataverk.Client() as dv:
        table = dv.read_sql("postgres_database", "SELECT id, carrier FROM flights WHERE false", return_type="arrow")
    assert table.num_rows == 0
    assert table.column_names == ["id", "carrier"]


def test_query_from_a_sql_file(seed_dir):
    (seed_dir / "query.sql").write_text("SELECT count(*)::int8 AS n FROM flights WHERE dep_delay IS NULL\n")
    with dataverk.Client() as dv:
        df = dv.read_sql("postgres_database", "query.sql")
    assert df["n"].tolist() == [100]


def test_partitioned_read_reads_every_row_once(seed_dir):
    with dataverk.Client() as dv:
        table = dv.read_sql(
            "postgres_database", "SELECT id, carrier FROM flights", return_type="arrow",
            partition_on="id", partitions=3,
        )
    assert sorted(table.column("id").to_pylist()) == list(range(1, 1001))


def test_execute_sql_counts_rows_and_creates_objects_as_the_group_role(seed_dir):
    with dataverk.Client() as dv:
        assert dv.execute_sql("postgres_database", "CREATE TABLE notes (n int)") == 0
        assert dv.execute_sql("postgres_database", "INSERT INTO notes SELECT generate_series(1, 3)") == 3
        owner = dv.read_sql(
            "postgres_database", "SELECT tableowner FROM pg_tables WHERE tablename = 'notes'"
        )
        total = dv.read_sql("postgres_database", "SELECT sum(n)::int8 AS s FROM notes")
        dv.execute_sql("postgres_database", "DROP TABLE notes")
    # Owned by the stable role, not by the temporary user Vault will drop.
    assert owner["tableowner"].tolist() == ["testdb-admin"]
    assert total["s"].tolist() == [6]


def assert_no_secret(stack, error):
    text = str(error) + repr(error)
    for secret in stack.secrets():
        assert secret not in text


def test_settings_error_for_a_missing_settings_file(stack, tmp_path):
    with pytest.raises(dataverk.SettingsError, match="cannot read settings file") as e:
        dataverk.Client(settings_file=tmp_path / "nowhere.json")
    assert isinstance(e.value, dataverk.DataverkError)
    assert "Client(settings_file=...)" in str(e.value)
    assert_no_secret(stack, e.value)


def test_settings_error_for_an_unknown_source(stack, seed_dir):
    with dataverk.Client() as dv:
        with pytest.raises(dataverk.SettingsError, match="unknown source \"nope\"; known sources: postgres_database") as e:
            dv.read_sql("nope", "SELECT 1")
    assert_no_secret(stack, e.value)


def test_vault_error_when_the_policy_refuses_the_creds_path(stack, tmp_path):
    settings = tmp_path / "denied.json"
    settings.write_text(SEED_SETTINGS.replace("${POSTGRES_CREDS_PATH}", DENIED_CREDS_PATH))
    with dataverk.Client(settings_file=settings) as dv:
        with pytest.raises(dataverk.VaultError, match="HTTP 403") as e:
            dv.read_sql("postgres_database", "SELECT 1")
    assert DENIED_CREDS_PATH in str(e.value)
    # The CLI's access hint: the entry the namespace's vault-iac file lacks, and the command.
    assert "database_name otherdb, permission_level admin" in str(e.value)
    assert "dataverk access user" in str(e.value)
    assert isinstance(e.value, dataverk.DataverkError)
    assert_no_secret(stack, e.value)


def test_database_error_names_the_problem(stack, seed_dir):
    with dataverk.Client() as dv:
        with pytest.raises(dataverk.DatabaseError, match="no_such_table.*does not exist.*42P01") as e:
            dv.read_sql("postgres_database", "SELECT * FROM no_such_table")
        # The client is still usable after a failed statement.
        assert dv.read_sql("postgres_database", "SELECT 1 AS one")["one"].tolist() == [1]
    assert isinstance(e.value, dataverk.DataverkError)
    assert_no_secret(stack, e.value)


def test_argument_errors(seed_dir):
    with dataverk.Client() as dv:
        with pytest.raises(ValueError, match="return_type"):
            dv.read_sql("postgres_database", "SELECT 1", return_type="excel")
        with pytest.raises(ValueError, match="partition_on needs partitions"):
            dv.read_sql("postgres_database", "SELECT 1", partition_on="id")


def test_closed_client(stack, seed_dir):
    dv = dataverk.Client()
    assert not dv.closed
    dv.close()
    dv.close()
    assert dv.closed
    assert "closed" in repr(dv)
    with pytest.raises(dataverk.DataverkError, match="closed"):
        dv.read_sql("postgres_database", "SELECT 1")


def test_other_threads_run_during_a_read(seed_dir):
    """The read waits 1.5 s on the server; a Python thread ticking every 10 ms keeps ticking,
    which it cannot while the reading thread holds the GIL."""
    ticks, stop = [], threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    with dataverk.Client() as dv:
        dv.read_sql("postgres_database", "SELECT 1")  # credentials and a pooled connection first
        ticker = threading.Thread(target=tick)
        ticker.start()
        try:
            start = time.monotonic()
            df = dv.read_sql("postgres_database", "SELECT 1 AS one FROM pg_sleep(1.5)")
            end = time.monotonic()
        finally:
            stop.set()
            ticker.join()
    assert df["one"].tolist() == [1]
    assert end - start >= 1.4
    during = [t for t in ticks if start + 0.2 < t < end - 0.2]
    assert len(during) >= 20, f"only {len(during)} ticks during a {end - start:.1f} s read"


def test_help_shows_the_docstrings():
    assert "return_type" in dataverk.Client.read_sql.__doc__
    assert "affected" in dataverk.Client.execute_sql.__doc__
    assert issubclass(dataverk.VaultError, dataverk.DataverkError)


def test_to_sql_from_pandas_polars_and_arrow(seed_dir):
    frames = {
        "pandas": pandas.DataFrame({"n": [1, 2], "name": ["a", None]}, index=[10, 11]),
        "polars": polars.DataFrame({"n": [3, 4], "name": ["c", "d"]}),
        "arrow": pyarrow.table({"n": pyarrow.array([5], pyarrow.int64()), "name": ["e"]}),
    }
    with dataverk.Client() as dv:
        written = [dv.to_sql(df, "written", "postgres_database") for df in frames.values()]
        back = dv.read_sql("postgres_database", "SELECT n, name FROM written ORDER BY n", return_type="arrow")
        owner = dv.read_sql("postgres_database", "SELECT tableowner FROM pg_tables WHERE tablename = 'written'")
        assert dv.to_sql(frames["arrow"], "written", "postgres_database", if_exists="replace") == 1
        after_replace = dv.read_sql("postgres_database", "SELECT count(*)::int8 AS c FROM written")
        with pytest.raises(dataverk.DataverkError, match="written"):
            dv.to_sql(frames["arrow"], "written", "postgres_database", if_exists="fail")
        with pytest.raises(ValueError, match="if_exists"):
            dv.to_sql(frames["arrow"], "written", "postgres_database", if_exists="overwrite")
        dv.execute_sql("postgres_database", "DROP TABLE written")
    assert written == [2, 2, 1]
    assert back.to_pydict() == {"n": [1, 2, 3, 4, 5], "name": ["a", None, "c", "d", "e"]}
    assert owner["tableowner"].tolist() == ["testdb-admin"]
    assert after_replace["c"].tolist() == [1]


def test_a_long_lived_client_outlives_its_leases(seed_dir):
    """Credentials that live 3 s (at most 6 s): the same client keeps reading past several lease
    ends, renewing the lease and then replacing it, as a notebook kernel does over hours."""
    settings = seed_dir / "short.json"
    settings.write_text(SEED_SETTINGS.replace("${POSTGRES_CREDS_PATH}", SHORT_CREDS_PATH))
    users = []
    with dataverk.Client(settings_file=settings) as dv:
        for _ in range(3):
            df = dv.read_sql("postgres_database", "SELECT current_user AS u, count(*)::int8 AS n FROM flights")
            assert df["n"].tolist() == [1000]
            users.append(df["u"].iloc[0])
            time.sleep(SHORT_TTL_SECONDS + 0.5)
    assert all(u.startswith("v-") for u in users)
    # Past max_ttl the lease cannot be renewed: the last read ran as a new user.
    assert len(set(users)) >= 2, users


def test_env_file_fills_placeholders(stack, seed_dir):
    """The dotenv file is the last place a placeholder is looked up, as in the library; here it
    names a SQLite database beside the settings."""
    settings = seed_dir / "settings.json"
    settings.write_text(
        SEED_SETTINGS.replace(
            '"postgres_database": "${POSTGRES_CREDENTIALS}" }',
            '"postgres_database": "${POSTGRES_CREDENTIALS}", "local": "${LOCAL_DB}" }',
        )
    )
    (seed_dir / "my.env").write_text("LOCAL_DB=sqlite:///local.db\n")
    with pytest.raises(dataverk.SettingsError, match="LOCAL_DB") as e:
        dataverk.Client(env_file=None)
    assert_no_secret(stack, e.value)
    with dataverk.Client(env_file=seed_dir / "my.env") as dv:
        dv.execute_sql("local", "CREATE TABLE t (x int)")
        assert dv.execute_sql("local", "INSERT INTO t VALUES (1), (2)") == 2
        assert dv.read_sql("local", "SELECT sum(x) AS s FROM t")["s"].tolist() == [3]
    assert (seed_dir / "local.db").exists()


def test_threads_share_a_client(seed_dir):
    results = {}

    def read(i):
        results[i] = dv.read_sql("postgres_database", f"SELECT {i} AS i, count(*)::int8 AS n FROM flights, pg_sleep(0.3)")

    with dataverk.Client() as dv:
        threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert {i: (df["i"].tolist(), df["n"].tolist()) for i, df in results.items()} == {
        i: ([i], [1000]) for i in range(4)
    }


def test_the_type_stub_is_installed():
    from pathlib import Path

    package = Path(dataverk.__file__).parent
    assert (package / "__init__.pyi").exists()
    assert (package / "py.typed").exists()


def test_ctrl_c_stops_a_read(seed_dir):
    """SIGINT during a 5 s read: KeyboardInterrupt within a second, and the client goes on."""
    import os
    import signal

    with dataverk.Client() as dv:
        dv.read_sql("postgres_database", "SELECT 1")
        timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
        timer.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            dv.read_sql("postgres_database", "SELECT 1 AS one FROM pg_sleep(5)")
        elapsed = time.monotonic() - start
        timer.join()
        assert elapsed < 2, f"the read went on for {elapsed:.1f} s after Ctrl-C"
        assert dv.read_sql("postgres_database", "SELECT 2 AS two")["two"].tolist() == [2]


# A read of 1,500 rows that takes about 3 s: past the 2 s after which a bar appears.
SLOW_READ = "SELECT g FROM generate_series(1, 1500) AS g, LATERAL (SELECT pg_sleep(0.001 + 0 * g)) AS s"


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal, and keeps what is written to it."""

    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_for_a_slow_read(seed_dir, monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with dataverk.Client() as dv:
        df = dv.read_sql("postgres_database", SLOW_READ)
        assert len(df) == 1500
        shown_after_slow = terminal.getvalue()
        dv.read_sql("postgres_database", "SELECT 1 AS one")
        assert terminal.getvalue() == shown_after_slow, "a read under 2 s showed a bar"
    # tqdm's line: the source, the final row count and a rate.
    assert "postgres_database" in shown_after_slow
    assert "1.50k rows" in shown_after_slow
    assert "rows/s" in shown_after_slow


def test_no_progress_bar_when_not_interactive_or_turned_off(seed_dir, monkeypatch, capsys):
    with dataverk.Client() as dv:
        # pytest's captured stderr is no terminal, and this is no notebook.
        assert len(dv.read_sql("postgres_database", SLOW_READ)) == 1500
        assert capsys.readouterr().err == ""
        terminal = FakeTerminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        assert len(dv.read_sql("postgres_database", SLOW_READ, progress=False)) == 1500
        assert terminal.getvalue() == ""


def test_progress_true_shows_the_bar_in_a_log_too(seed_dir, capsys):
    with dataverk.Client() as dv:
        table = dv.read_sql(
            "postgres_database", SLOW_READ, return_type="arrow", partition_on="g", partitions=2, progress=True
        )
    assert table.num_rows == 1500
    err = capsys.readouterr().err
    assert "1.50k rows" in err, err


def test_ctrl_c_stops_a_write_and_leaves_the_table_as_it_was(seed_dir):
    """SIGINT during a write of 3 M rows: KeyboardInterrupt, and not one of its rows lands."""
    import os
    import signal

    with dataverk.Client() as dv:
        dv.execute_sql("postgres_database", "DROP TABLE IF EXISTS interrupted")
        dv.to_sql(pandas.DataFrame({"n": [0], "m": [0]}), "interrupted", "postgres_database")
        # A frame that does not fit is refused before anything is sent, with the Python fix.
        with pytest.raises(dataverk.DataverkError, match='if_exists="replace"'):
            dv.to_sql(pandas.DataFrame({"x": [1]}), "interrupted", "postgres_database")
        big = pandas.DataFrame({"n": range(1, 3_000_001), "m": range(3_000_000)})
        timer = threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGINT))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            dv.to_sql(big, "interrupted", "postgres_database", if_exists="append")
        timer.join()
        rows = dv.read_sql("postgres_database", "SELECT n FROM interrupted")
        assert rows["n"].tolist() == [0]
