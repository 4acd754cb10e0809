"""Per-request queries whose SQL text is built once per process and database dialect.

Peewee stays the model and migration layer: a hot query is written once with its query
builder, in a function of its parameters. The first call on a kind of database renders that
function's query with marker values, records where each marker landed among the bound
parameters, and keeps the SQL text; every later call binds the request's values to the same
text and turns the row straight into the model instances peewee itself would build (each
column through its field's `python_value`, joined instances attached, nothing dirty).

Building the text is what peewee spends most of a small query's time on (some 2,000 Python
calls for a two-table join against microseconds for the database to run it); the result is
the same rows, read fresh from the database on every call: nothing here caches data.

A query qualifies when its SQL text depends only on the dialect, never on the values: no
`IN` lists of varying length, no `None` compared with `==` (peewee writes `IS NULL`).
"""

import datetime as dt

from peewee import (
    AutoField,
    BigAutoField,
    BigIntegerField,
    CharField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from .extensions import db

# Marker values no request passes: parameters are found in the rendered query by these.
_MARKERS = {
    str: lambda i: f"\x00prebuilt-marker-{i}",
    int: lambda i: -7_340_032_000 - i,
    dt.datetime: lambda i: dt.datetime(1901, 2, 3, 4, 5, 6, 700_000 + i),
}


# Fields whose python_value leaves a value of this type (and None) as it is: the database's
# value is kept without the call. Exact classes only: a subclass may convert differently.
_PLAIN = {IntegerField: int, BigIntegerField: int, AutoField: int, BigAutoField: int,
          CharField: str, TextField: str}


def _readers(model, names=None) -> tuple:
    """(name, python_value, plain type or None) for each of the model's selected columns:
    all its fields, or the ones `names` lists, in that order."""
    readers = []
    fields = (model._meta.sorted_fields if names is None
              else [model._meta.fields[name] for name in names])
    for field in fields:
        # A foreign key's value is its target column's (ForeignKeyField.python_value).
        target = field.rel_field if type(field) is ForeignKeyField else field
        readers.append((field.name, field.python_value, _PLAIN.get(type(target))))
    return tuple(readers)


def _found(instance) -> bool:
    """False for the all-NULL columns an outer join gives when it found no row."""
    return instance.__data__.get(instance._meta.primary_key.name) is not None


class Prebuilt:
    """One hot query: `build(*params)` gives the peewee query; `types` are the params' types.

    `models` lists the models whose columns are selected, in order (their `sorted_fields`
    each, as `select(A, B)` writes them, or `(B, ("id", "email"))` for `select(A, B.id,
    B.email)`); `joins` names, for each model after the first, the foreign-key attribute of
    the first that holds it (as `.join(B, on=(A.fk == B.id))`).
    """

    def __init__(self, build, types, models=(), joins=()):
        self._build = build
        self._types = tuple(types)
        # A model, or (model, field names) when only those columns are selected, in order.
        self._models = tuple(m[0] if isinstance(m, tuple) else m for m in models)
        self._joins = tuple(joins)
        self._readers = tuple(_readers(*m) if isinstance(m, tuple) else _readers(m)
                              for m in models)
        self._by_dialect: dict[type, tuple] = {}

    def _compiled(self, database) -> tuple:
        key = type(database)
        compiled = self._by_dialect.get(key)
        if compiled is None:
            markers = [_MARKERS[kind](i) for i, kind in enumerate(self._types)]
            sql, params = self._build(*markers).sql()
            slots = []
            for value in params:
                found = [i for i, m in enumerate(markers) if type(m) is type(value) and m == value]
                slots.append(found[0] if found else (value,))
            if {s for s in slots if isinstance(s, int)} != set(range(len(markers))):
                raise ValueError(f"a parameter is missing from {sql!r}")
            compiled = (sql, tuple(slots))
            self._by_dialect[key] = compiled
        return compiled

    def cursor(self, *values):
        """Run the query with these parameter values; the database cursor."""
        database = db.obj
        sql, slots = self._compiled(database)
        params = [values[s] if s.__class__ is int else s[0] for s in slots]
        return database.execute_sql(sql, params)

    def first(self, *values):
        """The first row as an instance of the first model (joined ones attached), or None."""
        row = self.cursor(*values).fetchone()
        return None if row is None else self._instance(row)

    def instances(self, *values) -> list | None:
        """The first row as one instance per model, nothing attached (None for a model an
        outer join found no row of); None when there is no row."""
        row = self.cursor(*values).fetchone()
        if row is None:
            return None
        return [i if _found(i) else None for i in self._split(row)]

    def all(self, *values) -> list:
        """Every row, each as `first` makes it."""
        return [self._instance(row) for row in self.cursor(*values).fetchall()]

    def _split(self, row) -> list:
        instances, start = [], 0
        for model, readers in zip(self._models, self._readers, strict=True):
            instance = model(__no_default__=True)
            instance.__data__ = data = {}
            for (name, convert, plain), value in zip(readers, row[start:start + len(readers)],
                                                     strict=True):
                data[name] = (value if plain is not None and (value is None
                                                              or value.__class__ is plain)
                              else convert(value))
            instances.append(instance)
            start += len(readers)
        if start != len(row):
            raise ValueError(f"{len(row)} columns for {start} model fields")
        return instances

    def _instance(self, row):
        instances = self._split(row)
        head = instances[0]
        for attr, joined in zip(self._joins, instances[1:], strict=True):
            if _found(joined):  # an outer join's miss leaves it unset, as peewee does
                head.__rel__[attr] = joined
        return head

    def scalar(self, *values):
        """The first column of the first row (None when there is no row)."""
        row = self.cursor(*values).fetchone()
        return None if row is None else row[0]


class PrebuiltByShape:
    """A query with optional parameters (None: not applied) and fixed switches: one
    `Prebuilt` per switches and set of parameters given, made on first use.

    `build(*switches, *values)` gets None for each parameter not given, a marker otherwise;
    `types` are the parameters' types, in order; the rest is passed on to `Prebuilt`.
    """

    def __init__(self, build, types, **prebuilt_args):
        self._build = build
        self._types = tuple(types)
        self._args = prebuilt_args
        self._shapes: dict[tuple, Prebuilt] = {}

    def all(self, switches: tuple, *values) -> list:
        given = tuple(v is not None for v in values)
        prebuilt = self._shapes.get((switches, given))
        if prebuilt is None:
            def shaped(*params):
                params = iter(params)
                return self._build(*switches, *(next(params) if g else None for g in given))

            prebuilt = self._shapes[(switches, given)] = Prebuilt(
                shaped, [t for t, g in zip(self._types, given, strict=True) if g],
                **self._args)
        return prebuilt.all(*(v for v in values if v is not None))
