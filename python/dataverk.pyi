"""Read from and write to databases by source name, with secrets and self-renewing database
credentials from Vault (the Rust library dataverk, from Python)."""

import os
from types import TracebackType
from typing import Literal, Optional, Type, Union, overload

import pandas
import polars
import pyarrow

__version__: str

class DataverkError(Exception):
    """Base class of every error dataverk raises."""

class SettingsError(DataverkError):
    """The settings file, a placeholder in it, a source name or a connection URL is wrong."""

class VaultError(DataverkError):
    """Vault is not configured, cannot be reached, or refused a request."""

class DatabaseError(DataverkError):
    """The database refused the login, cannot be reached, or failed a statement."""

_Path = Union[str, "os.PathLike[str]"]

class Client:
    """A connection to the sources of one settings file, with secrets and database credentials
    from Vault.

    settings_file: the settings JSON (else $DATAVERK_SETTINGS, else ./settings.json).
    env_file: the dotenv file consulted last for placeholders (None: none).
    """

    def __init__(
        self, settings_file: Optional[_Path] = None, env_file: Optional[_Path] = ".env"
    ) -> None: ...
    @overload
    def read_sql(
        self,
        source: str,
        sql: str,
        return_type: Literal["pandas"] = "pandas",
        partition_on: Optional[str] = None,
        partitions: Optional[int] = None,
        progress: Optional[bool] = None,
    ) -> pandas.DataFrame: ...
    @overload
    def read_sql(
        self,
        source: str,
        sql: str,
        return_type: Literal["polars"],
        partition_on: Optional[str] = None,
        partitions: Optional[int] = None,
        progress: Optional[bool] = None,
    ) -> polars.DataFrame: ...
    @overload
    def read_sql(
        self,
        source: str,
        sql: str,
        return_type: Literal["arrow"],
        partition_on: Optional[str] = None,
        partitions: Optional[int] = None,
        progress: Optional[bool] = None,
    ) -> pyarrow.Table: ...
    def execute_sql(self, source: str, sql: str) -> int:
        """Runs a statement that returns no rows; the number of rows it affected."""
    def to_sql(
        self,
        df: Union[pandas.DataFrame, polars.DataFrame, pyarrow.Table],
        table: str,
        sink: str,
        if_exists: Literal["append", "replace", "fail"] = "append",
        progress: Optional[bool] = None,
    ) -> int:
        """Writes a DataFrame into a table in one transaction; the number of rows written."""
    def close(self) -> None:
        """Revokes the database credentials this client obtained and closes its connections."""
    @property
    def closed(self) -> bool:
        """Whether close() was called."""
    def __enter__(self) -> "Client": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
