"""The compression problem as a mixed-integer linear program in matrix form (numpy only).

Data first, then variables as column blocks, then named row blocks; the solvers in
:mod:`planner.search.ilp` read the result. Variables:

- ``x[d, i]`` (binary): decision d takes its option i; ``one_choice[d]``: Σ_i x[d, i] = 1.
- ``z[g, r]`` (binary): channel group g keeps ratio r; ``one_ratio[g]``: Σ_r z[g, r] = 1;
  ``coupled[d, g, r]``: Σ_{i with ratio r for g} x[d, i] = z[g, r]. Every decision touching
  a group takes the same ratio, and a consumer's option (indexed by its input and output
  ratios) is priced exactly at its producer's ratio.
- Transfers (when latency is read and there are several processors). A decision's output
  *state* s is (processor, output bytes); V[d, s] = Σ_{i in s} x[d, i] and, for a reader c,
  P[c, q] = Σ_{i on q} x[c, i]. For every edge d → c a transport ``f[d, c, s, q] ≥ 0`` has
  the endpoints' choices as marginals (``edge_source[d, c, s]``: Σ_q f = V[d, s];
  ``edge_reader[d, c, q]``: Σ_s f = P[c, q]); in an integer solution f = V·P. The move of
  state s to processor q ≠ its own, ``m[d, s, q] ≥ f[d, c, s, q]`` for every reader c
  (``moved[d, c, s, q]``; graph outputs: ``m[d, s, host] ≥ V[d, s]``), costs the link's
  latency plus bytes over bandwidth, once per destination however many readers it has.
  No big-M: the relaxation is the local marginal polytope, tight where choices are.
- ``o[d] = Σ_i out_bytes_i x[d, i]`` (``output_bytes[d]``) and ``peak ≥ Σ_{d live at k} o[d]``
  (``memory_at[k]``) when memory is read.
- Budgets ``size_budget``, ``latency_budget``, ``memory_budget``, ``energy_budget``,
  ``error_budget`` on the scaled quantities.

Each quantity is scaled so that its largest possible total is about ``SCALE_TARGET``
(solver tolerances are absolute). Quantities come from the registry
(:data:`planner.contracts.quantities.QUANTITIES`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from planner.contracts.quantities import QUANTITIES, QUANTITY_OF, Budgets
from planner.search.problem import Objective, Problem

SCALE_TARGET = 1000.0


@dataclass
class OptionArrays:
    """Every option of a problem as flat arrays (columns of x), in decision order."""

    owner: np.ndarray
    """Decision index of each option."""
    start: np.ndarray
    """First option of each decision (length decisions + 1)."""
    values: dict[str, np.ndarray]
    """Quantity name → each option's contribution (base units; error × sensitivity)."""
    processor: np.ndarray
    """Index into ``processors`` of each option."""
    processors: list[str]
    unpruned: np.ndarray
    """Whether each option keeps every channel (all its ratios 1): one per decision makes
    a consistent assignment, which column generation starts from."""
    ratio_class: np.ndarray
    """Each option's keep ratios as a number, equal for two options of one decision
    exactly when their ratios are."""

    @classmethod
    def of(cls, problem: Problem) -> OptionArrays:
        """The arrays of ``problem`` (its host is always among ``processors``)."""
        tables = [d.options for d in problem.decisions]
        counts = np.array([len(t) for t in tables], dtype=np.int64)
        start = np.concatenate([[0], np.cumsum(counts)])
        owner = np.repeat(np.arange(len(counts)), counts)
        columns: dict[str, list[np.ndarray]] = {}
        for table in tables:
            bounded = table.at_bounds() if problem.at_bounds else {}
            for q in QUANTITIES.values():
                column = bounded.get(q.option_field)
                columns.setdefault(q.name, []).append(
                    table.column(q.option_field) if column is None else column)
        sensitivity = np.repeat([d.sensitivity for d in problem.decisions], counts)
        values = {}
        for q in QUANTITIES.values():
            joined = np.concatenate(columns[q.name]).astype(float) if tables else np.zeros(0)
            values[q.name] = joined * q.option_scale * (sensitivity if q.weighted else 1.0)
        names = sorted({n for t in tables for n in
                        np.array(t.names["processor"], dtype=object)[np.unique(
                            t.codes["processor"])]} | {problem.host})
        index = {p: k for k, p in enumerate(names)}
        processor = np.concatenate(
            [np.array([index.get(n, -1) for n in t.names["processor"]], np.int64)[
                t.codes["processor"]] for t in tables]) if tables else np.zeros(0, np.int64)
        unpruned = np.concatenate([np.all(t.ratios == 1.0, axis=1) for t in tables]) \
            if tables else np.zeros(0, bool)
        ratio_class = np.concatenate(
            [np.unique(t.ratios, axis=0, return_inverse=True)[1].ravel() if len(t)
             else np.zeros(0, np.int64) for t in tables]) if tables else np.zeros(0, np.int64)
        return cls(owner, start, values, processor, names, unpruned, ratio_class)


@dataclass
class Matrix:
    """minimise ``cost``·v subject to ``row_lower`` ≤ A v ≤ ``row_upper`` (A in CSR:
    ``row_start``, ``col_index``, ``value``), ``col_lower`` ≤ v ≤ ``col_upper``, v integer
    where ``integral``. ``blocks`` names the row blocks by their first row."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integral: np.ndarray
    row_start: np.ndarray
    col_index: np.ndarray
    value: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    blocks: list[tuple[int, str]] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return len(self.row_lower), len(self.cost)

    def fixing(self, options: int, keep: np.ndarray) -> Matrix:
        """This program with the first ``options`` columns where ``keep`` is False fixed
        to zero (their upper bound set to 0; presolve removes them)."""
        upper = self.col_upper.copy()
        upper[:options][~keep] = 0.0
        return replace(self, col_upper=upper)

    def entry_rows(self) -> np.ndarray:
        """The row of each stored entry of A (the CSR row indices spelt out)."""
        return np.repeat(np.arange(len(self.row_lower)), np.diff(self.row_start))

    def restricted(self, options: int, keep: np.ndarray) -> tuple[Matrix, np.ndarray]:
        """This program over fewer columns: of the first ``options`` only those where
        ``keep`` is True, every other column kept; and the original index of each column
        it has (a solution of it is ``values`` at those indices of this one's, zero
        elsewhere). Solvers get only the columns that can be non-zero, where
        :meth:`fixing` would leave presolve to remove the rest."""
        mask = np.ones(len(self.cost), bool)
        mask[:options] = keep
        columns = np.flatnonzero(mask)
        renumber = np.cumsum(mask) - 1
        entry = mask[self.col_index]
        row_start = np.searchsorted(self.entry_rows()[entry],
                                    np.arange(len(self.row_lower) + 1))
        return replace(self, cost=self.cost[mask], col_lower=self.col_lower[mask],
                       col_upper=self.col_upper[mask], integral=self.integral[mask],
                       row_start=row_start, col_index=renumber[self.col_index[entry]],
                       value=self.value[entry]), columns

    def row_name(self, row: int) -> str:
        """The name of the block a row belongs to, and its index in it."""
        first, name = max((b for b in self.blocks if b[0] <= row), default=(0, "row"))
        return f"{name}[{row - first}]"


class _Rows:
    """Row blocks gathered as COO triplets, then one CSR matrix."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.count = 0
        self.blocks: list[tuple[int, str]] = []

    def add(self, name: str, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray | float,
            n: int, lower: np.ndarray | float, upper: np.ndarray | float) -> int:
        """``n`` rows called ``name`` with entries (rows local to the block); returns the
        first row's index."""
        first = self.count
        self.blocks.append((first, name))
        self.rows.append(np.asarray(rows, np.int64) + first)
        self.cols.append(np.asarray(cols, np.int64))
        self.vals.append(np.broadcast_to(np.asarray(vals, float), np.shape(rows)).copy())
        self.lower.append(np.broadcast_to(np.asarray(lower, float), (n,)).copy())
        self.upper.append(np.broadcast_to(np.asarray(upper, float), (n,)).copy())
        self.count += n
        return first

    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = np.concatenate(self.rows) if self.rows else np.zeros(0, np.int64)
        cols = np.concatenate(self.cols) if self.cols else np.zeros(0, np.int64)
        vals = np.concatenate(self.vals) if self.vals else np.zeros(0)
        keep = vals != 0
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        order = np.argsort(rows, kind="stable")  # HiGHS takes a row's entries in any order
        rows, cols, vals = rows[order], cols[order], vals[order]
        start = np.searchsorted(rows, np.arange(self.count + 1))
        return start, cols, vals


class _Columns:
    """Column blocks: bounds, integrality and objective entries."""

    def __init__(self) -> None:
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.integral: list[np.ndarray] = []
        self.count = 0

    def add(self, n: int, integral: bool, upper: float = np.inf) -> np.ndarray:
        """``n`` new columns in [0, upper]; returns their indices."""
        self.lower.append(np.zeros(n))
        self.upper.append(np.full(n, upper))
        self.integral.append(np.full(n, integral))
        first = self.count
        self.count += n
        return np.arange(first, first + n)


def scales(problem: Problem, arrays: OptionArrays) -> dict[str, float]:
    """Multipliers that bring each quantity's largest possible total near SCALE_TARGET."""
    found = {}
    for name, values in arrays.values.items():
        top = float(np.maximum.reduceat(values, arrays.start[:-1]).sum()) if len(values) else 0.0
        if name == "size":
            top += problem.fixed_bits / 8
        if name == "latency":
            widest = np.maximum.reduceat(arrays.values["memory"], arrays.start[:-1])
            top += sum(link.seconds(float(b)) for b in widest for link in problem.links.values())
        found[name] = SCALE_TARGET / top if top > 0 else 1.0
    return found


@dataclass
class Model:
    """The matrix of one problem under one set of budgets, with what reading back needs:
    the x columns, the objective's and each quantity's expression (column → coefficient,
    constant) and the scales."""

    matrix: Matrix
    arrays: OptionArrays
    scales: dict[str, float]
    expressions: dict[str, tuple[np.ndarray, np.ndarray, float]]
    objective: str

    def value(self, solution: np.ndarray, name: str) -> float:
        """A quantity's value (base units) at a solution vector."""
        cols, coef, constant = self.expressions[name]
        return (float(coef @ solution[cols]) + constant) / self.scales[name]


@dataclass
class _Structure:
    """The part of a problem's program that no budget changes: the scales, the choice and
    coupling rows, and (when asked for) the transfer and peak-memory blocks with the
    latency expression's move columns and the peak column."""

    scale: dict[str, float]
    columns: _Columns
    rows: _Rows
    moves: tuple[np.ndarray, np.ndarray] | None
    peak: int | None

    @cached_property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """The rows in CSR form (start, index, value), their lower and upper bounds, and
        the columns' lower and upper bounds and integrality: what every build shares."""
        return (*self.rows.csr(), np.concatenate(self.rows.lower),
                np.concatenate(self.rows.upper), np.concatenate(self.columns.lower),
                np.concatenate(self.columns.upper), np.concatenate(self.columns.integral))


def _arrays(problem: Problem) -> OptionArrays:
    """``OptionArrays.of(problem)``, made once per problem (kept in ``problem.memo``)."""
    found = problem.memo.get("option_arrays")
    if not isinstance(found, OptionArrays):
        found = problem.memo["option_arrays"] = OptionArrays.of(problem)
    return found


def _structure(problem: Problem, transfers: bool, memory: bool) -> _Structure:
    """The budget-free structure of ``problem``'s program, built once per layout of its
    options and kind (kept in ``problem.layout``: a Pareto sweep, a re-solve and the
    problems with re-measured or bounded sizes build it once). Its scales are those of the
    first problem that built it: they only need to bring totals near SCALE_TARGET."""
    key = ("milp", transfers, memory)
    found = problem.layout.get(key)
    if isinstance(found, _Structure):
        return found
    arrays = _arrays(problem)
    scale = scales(problem, arrays)
    columns, rows = _Columns(), _Rows()
    x = columns.add(len(arrays.owner), integral=True, upper=1.0)
    rows.add("one_choice", arrays.owner, x, 1.0, len(problem.decisions), 1.0, 1.0)
    _couple_groups(problem, arrays, columns, rows)
    moves = _transfers(problem, arrays, columns, rows, scale["latency"]) if transfers else None
    peak = _peak_memory(problem, arrays, columns, rows, scale["memory"]) if memory else None
    structure = _Structure(scale, columns, rows, moves, peak)
    problem.layout[key] = structure
    return structure


def build(problem: Problem, budgets: Budgets, objective: Objective,
          read: tuple[str, ...] = ()) -> Model:
    """The MILP of ``problem``: minimise ``objective`` within ``budgets``; the expressions
    of the quantities in ``read`` are built too (with their columns) though no budget
    bounds them. The budget-free part is built once per problem (:func:`_structure`)."""
    needed = {QUANTITY_OF[objective], *budgets.given(), *read}
    arrays = _arrays(problem)
    base = _structure(problem, "latency" in needed and len(arrays.processors) > 1,
                      "memory" in needed)
    scale, x = base.scale, np.arange(len(arrays.owner))
    budget_rows = _Rows()  # after the structure's rows
    expressions: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    for name, quantity in QUANTITIES.items():
        if name in needed and quantity.aggregate == "sum":
            constant = problem.fixed_bits / 8 * scale[name] if name == "size" else 0.0
            expressions[name] = (x, arrays.values[name] * scale[name], constant)
    if base.moves is not None:
        cols, coef = base.moves
        base_cols, base_coef, _ = expressions["latency"]
        expressions["latency"] = (np.concatenate([base_cols, cols]),
                                  np.concatenate([base_coef, coef]), 0.0)
    if base.peak is not None:
        expressions["memory"] = (np.array([base.peak]), np.array([1.0]), 0.0)
    for name, bound in budgets.given().items():
        cols, coef, constant = expressions[name]
        budget_rows.add(f"{name}_budget", np.zeros(len(cols), np.int64), cols, coef, 1,
                        -np.inf, bound * scale[name] - constant)
    goal = QUANTITY_OF[objective]
    cost = np.zeros(base.columns.count)
    cols, coef, _ = expressions[goal]
    np.add.at(cost, cols, coef)
    start, index, value, lower, upper, col_lower, col_upper, integral = base.arrays
    extra_start, extra_index, extra_value = budget_rows.csr()
    first = base.rows.count
    matrix = Matrix(cost, col_lower, col_upper, integral,
                    np.concatenate([start, start[-1] + extra_start[1:]]),
                    np.concatenate([index, extra_index]), np.concatenate([value, extra_value]),
                    np.concatenate([lower, *budget_rows.lower]),
                    np.concatenate([upper, *budget_rows.upper]),
                    [*base.rows.blocks, *((first + k, name) for k, name in budget_rows.blocks)])
    return Model(matrix, arrays, scale, expressions, goal)


def _couple_groups(problem: Problem, arrays: OptionArrays, columns: _Columns,
                   rows: _Rows) -> None:
    ratios: dict[int, np.ndarray] = {}
    for d in problem.decisions:
        for pos, gid in enumerate(d.groups):
            found = np.unique(d.options.ratios[:, pos])
            ratios[gid] = np.union1d(ratios.get(gid, found), found)
    z: dict[int, np.ndarray] = {}
    for gid, found in ratios.items():
        z[gid] = columns.add(len(found), integral=True, upper=1.0)
        rows.add(f"one_ratio[{gid}]", np.zeros(len(found), np.int64), z[gid], 1.0, 1, 1.0, 1.0)
    r_rows: list[np.ndarray] = []
    r_cols: list[np.ndarray] = []
    r_vals: list[np.ndarray] = []
    count = 0
    for k, d in enumerate(problem.decisions):
        first = int(arrays.start[k])
        for pos, gid in enumerate(d.groups):
            values = ratios[gid]
            r_rows += [count + np.arange(len(values)),
                       count + np.searchsorted(values, d.options.ratios[:, pos])]
            r_cols += [z[gid], first + np.arange(len(d.options))]
            r_vals += [np.full(len(values), -1.0), np.ones(len(d.options))]
            count += len(values)
    if count:
        rows.add("coupled", np.concatenate(r_rows), np.concatenate(r_cols),
                 np.concatenate(r_vals), count, 0.0, 0.0)


def _transfers(problem: Problem, arrays: OptionArrays, columns: _Columns, rows: _Rows,
               scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Transport and move columns (see the module docstring); returns the move columns and
    their scaled costs."""
    procs = arrays.processors
    host = procs.index(problem.host)
    out_bytes = arrays.values["memory"]
    move_cols: list[np.ndarray] = []
    move_cost: list[np.ndarray] = []
    for k, d in enumerate(problem.decisions):
        lo, hi = int(arrays.start[k]), int(arrays.start[k + 1])
        readers = [problem.index[c] for c in d.consumers]
        reader_procs = {c: np.unique(arrays.processor[arrays.start[c]:arrays.start[c + 1]])
                        for c in readers}
        destinations = set().union(*map(set, reader_procs.values())) if readers else set()
        if d.is_output:
            destinations.add(host)
        own = arrays.processor[lo:hi]
        if not destinations - set(own) and len(set(own)) <= 1 and all(
                len(p) <= 1 for p in reader_procs.values()):
            continue  # everything sits on one processor: nothing ever moves
        # states: (processor, output bytes)
        keys = np.stack([own, out_bytes[lo:hi]], axis=1)
        states, state_of = np.unique(keys, axis=0, return_inverse=True)
        state_of = state_of.ravel()
        ns = len(states)
        cost = {(s, q): problem.links[procs[int(states[s][0])], procs[q]]
                .seconds(float(states[s][1])) * scale
                for s, p in enumerate(states[:, 0]) for q in sorted(destinations - {int(p)})}
        if not cost:
            continue
        # one reader, not an output: the move is the transport itself (m = f at any optimum)
        single = len(readers) == 1 and not d.is_output
        moves: dict[tuple[int, int], int] = {}
        if not single:
            m_cols = columns.add(len(cost), integral=False)
            moves = {key: int(col) for key, col in zip(cost, m_cols, strict=True)}
            move_cols.append(m_cols)
            move_cost.append(np.array(list(cost.values())))
        x_d = np.arange(lo, hi)
        if d.is_output:
            outs = [(s, moves[s, host]) for s in range(ns) if (s, host) in moves]
            for s, col in outs:
                members = x_d[state_of == s]
                rows.add(f"output_moved[{d.name}]", np.zeros(len(members) + 1, np.int64),
                         np.concatenate([[col], members]),
                         np.concatenate([[1.0], -np.ones(len(members))]), 1, 0.0, np.inf)
        for c in readers:
            qs = [int(q) for q in reader_procs[c]]
            nq = len(qs)
            f = columns.add(ns * nq, integral=False, upper=1.0).reshape(ns, nq)
            c_lo, c_hi = int(arrays.start[c]), int(arrays.start[c + 1])
            c_proc = arrays.processor[c_lo:c_hi]
            # Σ_q f[s, q] − V[s] = 0
            src_rows = np.concatenate([np.repeat(np.arange(ns), nq), state_of])
            src_cols = np.concatenate([f.ravel(), x_d])
            src_vals = np.concatenate([np.ones(ns * nq), -np.ones(hi - lo)])
            rows.add(f"edge_source[{d.name}->{problem.decisions[c].name}]", src_rows,
                     src_cols, src_vals, ns, 0.0, 0.0)
            # Σ_s f[s, q] − P[c, q] = 0
            q_index = {q: j for j, q in enumerate(qs)}
            rd_rows = np.concatenate([np.tile(np.arange(nq), ns),
                                      np.array([q_index[int(p)] for p in c_proc])])
            rd_cols = np.concatenate([f.ravel(), np.arange(c_lo, c_hi)])
            rd_vals = np.concatenate([np.ones(ns * nq), -np.ones(c_hi - c_lo)])
            rows.add(f"edge_reader[{d.name}->{problem.decisions[c].name}]", rd_rows, rd_cols,
                     rd_vals, nq, 0.0, 0.0)
            pairs = [(s, q) for s in range(ns) for q in qs if (s, q) in cost]
            if single and pairs:
                move_cols.append(np.array([f[s, q_index[q]] for s, q in pairs]))
                move_cost.append(np.array([cost[pair] for pair in pairs]))
            elif pairs:
                mv_rows = np.repeat(np.arange(len(pairs)), 2)
                mv_cols = np.array([v for s, q in pairs for v in (moves[s, q],
                                                                  f[s, q_index[q]])])
                mv_vals = np.tile([1.0, -1.0], len(pairs))
                rows.add(f"moved[{d.name}->{problem.decisions[c].name}]", mv_rows, mv_cols,
                         mv_vals, len(pairs), 0.0, np.inf)
    if not move_cols:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(move_cols), np.concatenate(move_cost)


def _peak_memory(problem: Problem, arrays: OptionArrays, columns: _Columns, rows: _Rows,
                 scale: float) -> int:
    n = len(problem.decisions)
    o = columns.add(n, integral=False)
    peak = int(columns.add(1, integral=False)[0])
    x = np.arange(len(arrays.owner))
    rows.add("output_bytes", np.concatenate([arrays.owner, np.arange(n)]),
             np.concatenate([x, o]),
             np.concatenate([arrays.values["memory"] * scale, -np.ones(n)]), n, 0.0, 0.0)
    live = problem.live_sets()
    m_rows = np.concatenate([np.full(len(s) + 1, k) for k, s in enumerate(live)])
    m_cols = np.concatenate([np.concatenate([o[np.array(s, np.int64)], [peak]])
                             for s in live])
    m_vals = np.concatenate([np.concatenate([np.ones(len(s)), [-1.0]]) for s in live])
    rows.add("memory_at", m_rows, m_cols, m_vals, len(live), -np.inf, 0.0)
    return peak


__all__ = ["SCALE_TARGET", "Matrix", "Model", "OptionArrays", "build", "scales"]
