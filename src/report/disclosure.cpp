#include "report/disclosure.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>
#include <tuple>
#include <utility>

#include <glpk.h>

namespace casebridge::report {

// --- tables -------------------------------------------------------------------------------

table::table(std::string id, std::vector<dimension> dims)
    : id_(std::move(id)), dims_(std::move(dims)) {
    std::size_t n = 1;
    stride_.resize(dims_.size());
    for (std::size_t i = dims_.size(); i-- > 0;) {
        stride_[i] = n;
        n *= dims_[i].categories.size() + 1;
    }
    counts_.assign(n, 0);
}

std::vector<std::uint32_t> table::position(std::size_t cell) const {
    std::vector<std::uint32_t> p(dims_.size());
    for (std::size_t i = 0; i < dims_.size(); ++i) {
        p[i] = static_cast<std::uint32_t>(cell / stride_[i]);
        cell %= stride_[i];
    }
    return p;
}

std::size_t table::cell_at(const std::vector<std::uint32_t>& position) const {
    std::size_t c = 0;
    for (std::size_t i = 0; i < dims_.size(); ++i) {
        c += position[i] * stride_[i];
    }
    return c;
}

std::string table::key(std::size_t cell) const {
    const auto p = position(cell);
    std::vector<std::pair<std::string, std::string>> fixed;
    for (std::size_t i = 0; i < dims_.size(); ++i) {
        if (p[i] < dims_[i].categories.size()) {
            const auto& id = dims_[i].identity.empty() ? dims_[i].name : dims_[i].identity;
            fixed.emplace_back(id, dims_[i].categories[p[i]]);
        }
    }
    std::sort(fixed.begin(), fixed.end());
    fixed.erase(std::unique(fixed.begin(), fixed.end()), fixed.end());
    std::string out;
    for (const auto& [d, c] : fixed) {
        if (!out.empty()) {
            out += '|';
        }
        out += d + "=" + c;
    }
    return out;
}

void table::add(const unit& u) {
    if (u.categories.size() != dims_.size()) {
        throw std::invalid_argument(
            "a unit of table " + id_ + " has the wrong number of dimensions"
        );
    }
    // Each dimension contributes its categories plus "all"; a single-valued dimension without
    // a category leaves the unit out of the table altogether.
    std::vector<std::vector<std::uint32_t>> choices(dims_.size());
    for (std::size_t i = 0; i < dims_.size(); ++i) {
        const auto n = static_cast<std::uint32_t>(dims_[i].categories.size());
        auto cats = u.categories[i];
        std::sort(cats.begin(), cats.end());
        cats.erase(std::unique(cats.begin(), cats.end()), cats.end());
        for (const auto c : cats) {
            if (c >= n) {
                throw std::invalid_argument(
                    "a unit of table " + id_ + " names a category outside dimension " +
                    dims_[i].name
                );
            }
        }
        if (!dims_[i].multi_valued && cats.size() != 1) {
            return;
        }
        choices[i] = std::move(cats);
        choices[i].push_back(n);
    }
    std::vector<std::size_t> at(dims_.size(), 0);
    for (;;) {
        std::size_t cell = 0;
        for (std::size_t i = 0; i < dims_.size(); ++i) {
            cell += choices[i][at[i]] * stride_[i];
        }
        ++counts_[cell];
        std::size_t i = dims_.size();
        while (i-- > 0) {
            if (++at[i] < choices[i].size()) {
                break;
            }
            at[i] = 0;
        }
        if (i == static_cast<std::size_t>(-1)) {
            break;
        }
    }
}

// --- the linked system ----------------------------------------------------------------------

namespace {

struct glp_deleter {
    void operator()(glp_prob* p) const noexcept { glp_delete_prob(p); }
};

/// The cells of all tables as unknowns: equal keys are one unknown; each table's margins are
/// rows (sum equalities, or "at most the margin" for a multi-valued dimension).
class linked_system {
public:
    explicit linked_system(const std::vector<table>& tables) : tables_(tables) {
        var_of_.resize(tables.size());
        std::map<std::string, std::size_t> by_key;
        for (std::size_t t = 0; t < tables.size(); ++t) {
            const table& tb = tables[t];
            var_of_[t].resize(tb.size());
            for (std::size_t c = 0; c < tb.size(); ++c) {
                const auto [it, fresh] = by_key.emplace(tb.key(c), value_.size());
                // A negative count is unknown (a withheld cell read back from a published
                // report): another table's count of the same cell stands in for it.
                if (fresh) {
                    value_.push_back(tb.count(c));
                    cells_.push_back({});
                } else if (value_[it->second] < 0) {
                    value_[it->second] = tb.count(c);
                } else if (tb.count(c) >= 0 && value_[it->second] != tb.count(c)) {
                    throw std::invalid_argument(
                        "tables " + tables[cells_[it->second].front().first].id() + " and " +
                        tb.id() + " give different counts for the cell " +
                        (it->first.empty() ? std::string("total") : it->first)
                    );
                }
                var_of_[t][c] = it->second;
                cells_[it->second].emplace_back(t, c);
            }
            add_rows(t);
        }
        // A cell may appear twice in a row (agency × agency: (A, A) is A's margin): merge
        // the terms, and drop rows that say nothing.
        std::vector<row> merged;
        for (auto& rw : rows_) {
            std::sort(rw.terms.begin(), rw.terms.end());
            row m;
            m.equality = rw.equality;
            for (const auto& [v, coef] : rw.terms) {
                if (!m.terms.empty() && m.terms.back().first == v) {
                    m.terms.back().second += coef;
                } else {
                    m.terms.emplace_back(v, coef);
                }
            }
            std::erase_if(m.terms, [](const auto& t) { return t.second == 0.0; });
            if (!m.terms.empty()) {
                merged.push_back(std::move(m));
            }
        }
        rows_ = std::move(merged);
        rows_of_.resize(value_.size());
        for (std::size_t r = 0; r < rows_.size(); ++r) {
            for (const auto& [v, coef] : rows_[r].terms) {
                rows_of_[v].push_back(r);
            }
        }
    }

    std::size_t vars() const noexcept { return value_.size(); }
    std::int64_t value(std::size_t v) const { return value_[v]; }
    std::size_t var_of(std::size_t t, std::size_t c) const { return var_of_[t][c]; }
    const std::vector<std::pair<std::size_t, std::size_t>>& cells_of(std::size_t v) const {
        return cells_[v];
    }
    /// How many dimensions the variable's cell fixes (0: a grand total).
    std::size_t fixed_dims(std::size_t v) const {
        const auto& [t, c] = cells_[v].front();
        const auto p = tables_[t].position(c);
        std::size_t n = 0;
        for (std::size_t i = 0; i < p.size(); ++i) {
            n += p[i] < tables_[t].dimensions()[i].categories.size() ? 1 : 0;
        }
        return n;
    }

    struct row {
        std::vector<std::pair<std::size_t, double>> terms;
        bool equality = true;  ///< false: Σ terms ≤ 0
    };
    const std::vector<row>& rows() const noexcept { return rows_; }
    const std::vector<std::size_t>& rows_of(std::size_t v) const { return rows_of_[v]; }

    /// The interval of each variable in `ask` given that the variables not `hidden` are
    /// published, as a linear programme (integer = true: the exact integer bounds).
    std::vector<std::pair<double, double>> bounds(
        const std::vector<bool>& hidden,
        const std::vector<std::size_t>& ask,
        bool integer,
        std::size_t& programmes
    ) const {
        std::unique_ptr<glp_prob, glp_deleter> lp(glp_create_prob());
        glp_prob* p = lp.get();
        glp_add_cols(p, static_cast<int>(value_.size()));
        for (std::size_t v = 0; v < value_.size(); ++v) {
            const int j = static_cast<int>(v) + 1;
            if (hidden[v]) {
                // Zeros are always published, so anyone reading a report knows a withheld
                // count is at least 1 (a pattern that withholds a zero makes the programme
                // infeasible, and the cell counts as exposed).
                glp_set_col_bnds(p, j, GLP_LO, 1.0, 0.0);
            } else {
                const auto x = static_cast<double>(value_[v]);
                glp_set_col_bnds(p, j, GLP_FX, x, x);
            }
            if (integer) {
                glp_set_col_kind(p, j, GLP_IV);
            }
        }
        // Only rows that hold a hidden variable constrain anything.
        std::vector<int> ia{0};
        std::vector<int> ja{0};
        std::vector<double> ar{0.0};
        int r = 0;
        for (const auto& rw : rows_) {
            const bool matters = std::any_of(rw.terms.begin(), rw.terms.end(), [&](const auto& t) {
                return hidden[t.first];
            });
            if (!matters) {
                continue;
            }
            ++r;
            glp_add_rows(p, 1);
            glp_set_row_bnds(p, r, rw.equality ? GLP_FX : GLP_UP, 0.0, 0.0);
            for (const auto& [v, coef] : rw.terms) {
                ia.push_back(r);
                ja.push_back(static_cast<int>(v) + 1);
                ar.push_back(coef);
            }
        }
        glp_load_matrix(p, static_cast<int>(ia.size()) - 1, ia.data(), ja.data(), ar.data());
        glp_smcp sm;
        glp_init_smcp(&sm);
        sm.msg_lev = GLP_MSG_OFF;
        sm.presolve = GLP_OFF;
        glp_iocp io;
        glp_init_iocp(&io);
        io.msg_lev = GLP_MSG_OFF;
        io.presolve = GLP_OFF;
        std::vector<std::pair<double, double>> out;
        out.reserve(ask.size());
        for (const auto v : ask) {
            const int j = static_cast<int>(v) + 1;
            if (!hidden[v]) {
                const auto x = static_cast<double>(value_[v]);
                out.emplace_back(x, x);
                continue;
            }
            glp_set_obj_coef(p, j, 1.0);
            std::pair<double, double> iv{0.0, 0.0};
            for (const int dir : {GLP_MIN, GLP_MAX}) {
                glp_set_obj_dir(p, dir);
                ++programmes;
                const int rc = glp_simplex(p, &sm);
                const int status = rc == 0 ? glp_get_status(p) : GLP_UNDEF;
                double x = 0;
                if (status == GLP_UNBND) {
                    x = std::numeric_limits<double>::infinity();
                } else if (status != GLP_OPT) {
                    // The published figures are true counts, so the system is feasible: a
                    // failure here is the solver's; be safe and call the cell exposed.
                    x = static_cast<double>(value_[v]);
                } else if (integer) {
                    ++programmes;
                    const int irc = glp_intopt(p, &io);
                    x = irc == 0 && glp_mip_status(p) == GLP_OPT ? glp_mip_obj_val(p)
                                                                 : static_cast<double>(value_[v]);
                } else {
                    x = glp_get_obj_val(p);
                }
                (dir == GLP_MIN ? iv.first : iv.second) = x;
            }
            glp_set_obj_coef(p, j, 0.0);
            out.push_back(iv);
        }
        return out;
    }

private:
    void add_rows(std::size_t t) {
        const table& tb = tables_[t];
        const auto& dims = tb.dimensions();
        for (std::size_t c = 0; c < tb.size(); ++c) {
            const auto pos = tb.position(c);
            for (std::size_t i = 0; i < dims.size(); ++i) {
                const auto n = static_cast<std::uint32_t>(dims[i].categories.size());
                if (pos[i] != n) {
                    continue;
                }
                auto inner = pos;
                if (dims[i].multi_valued) {
                    for (std::uint32_t k = 0; k < n; ++k) {
                        inner[i] = k;
                        rows_.push_back(
                            {{{var_of_[t][tb.cell_at(inner)], 1.0}, {var_of_[t][c], -1.0}}, false}
                        );
                    }
                    continue;
                }
                row rw;
                rw.terms.emplace_back(var_of_[t][c], -1.0);
                for (std::uint32_t k = 0; k < n; ++k) {
                    inner[i] = k;
                    rw.terms.emplace_back(var_of_[t][tb.cell_at(inner)], 1.0);
                }
                rows_.push_back(std::move(rw));
            }
        }
    }

    const std::vector<table>& tables_;
    std::vector<std::vector<std::size_t>> var_of_;
    std::vector<std::int64_t> value_;
    std::vector<std::vector<std::pair<std::size_t, std::size_t>>> cells_;
    std::vector<row> rows_;
    std::vector<std::vector<std::size_t>> rows_of_;
};

bool narrow(const std::pair<double, double>& iv, int k) {
    return iv.second - iv.first < static_cast<double>(k) - 1e-6;
}

/// A published cell to withhold next so that `x` gains room: from a row where some withheld
/// cell connected to `x` is the only withheld one (it is pinned there), else from x's rows.
/// Cheapest first: a count of at least k (it leaves room), an interior cell before a margin,
/// the smaller count, the lower index.
std::optional<std::size_t> choose(
    const linked_system& sys, const std::vector<bool>& hidden, std::size_t x, int k
) {
    const auto cost = [&](std::size_t v) {
        return std::make_tuple(
            sys.value(v) >= k ? 0 : 1, -static_cast<long>(sys.fixed_dims(v)), sys.value(v), v
        );
    };
    const auto best_in = [&](const std::vector<std::size_t>& rows) -> std::optional<std::size_t> {
        std::optional<std::size_t> best;
        for (const auto r : rows) {
            for (const auto& [v, coef] : sys.rows()[r].terms) {
                if (hidden[v] || sys.value(v) == 0) {
                    continue;
                }
                if (!best || cost(v) < cost(*best)) {
                    best = v;
                }
            }
        }
        return best;
    };
    // Withheld cells reachable from x through rows, nearest first.
    std::vector<std::size_t> order{x};
    std::vector<bool> seen(sys.vars(), false);
    seen[x] = true;
    for (std::size_t i = 0; i < order.size(); ++i) {
        std::vector<std::size_t> exposed;
        for (const auto r : sys.rows_of(order[i])) {
            std::size_t withheld = 0;
            for (const auto& [v, coef] : sys.rows()[r].terms) {
                withheld += hidden[v] ? 1 : 0;
                if (hidden[v] && !seen[v]) {
                    seen[v] = true;
                    order.push_back(v);
                }
            }
            if (withheld == 1 && sys.rows()[r].equality) {
                exposed.push_back(r);
            }
        }
        if (auto c = best_in(exposed)) {
            return c;
        }
    }
    return best_in(sys.rows_of(x));
}

std::vector<std::vector<bool>> shape_of(const std::vector<table>& tables) {
    std::vector<std::vector<bool>> out;
    for (const auto& t : tables) {
        out.emplace_back(t.size(), false);
    }
    return out;
}

// A cell is withheld only where every table that holds it withholds it: a count published in
// one table is known, whatever another table shows.
std::vector<bool> hidden_vars(
    const linked_system& sys, const std::vector<std::vector<bool>>& suppressed
) {
    std::vector<bool> hidden(sys.vars(), true);
    for (std::size_t v = 0; v < sys.vars(); ++v) {
        for (const auto& [t, c] : sys.cells_of(v)) {
            if (t >= suppressed.size() || c >= suppressed[t].size() || !suppressed[t][c]) {
                hidden[v] = false;
            }
        }
    }
    return hidden;
}

std::vector<exposure> intervals_of(
    const linked_system& sys,
    const std::vector<bool>& hidden,
    std::optional<int> only_narrower_than,
    std::size_t& programmes
) {
    std::vector<std::size_t> ask;
    for (std::size_t v = 0; v < sys.vars(); ++v) {
        if (hidden[v]) {
            ask.push_back(v);
        }
    }
    const auto b = sys.bounds(hidden, ask, true, programmes);
    std::vector<exposure> out;
    for (std::size_t i = 0; i < ask.size(); ++i) {
        if (only_narrower_than && !narrow(b[i], *only_narrower_than)) {
            continue;
        }
        for (const auto& [t, c] : sys.cells_of(ask[i])) {
            out.push_back({t, c, b[i].first, b[i].second});
        }
    }
    std::sort(out.begin(), out.end(), [](const exposure& l, const exposure& r) {
        return std::tie(l.table, l.cell) < std::tie(r.table, r.cell);
    });
    return out;
}

}  // namespace

suppression protect(const std::vector<table>& tables, int k) {
    if (k < 2) {
        throw std::invalid_argument("the smallest publishable count k must be at least 2");
    }
    const linked_system sys(tables);
    suppression out;
    out.suppressed = shape_of(tables);
    out.primary = shape_of(tables);
    std::vector<bool> hidden(sys.vars(), false);
    std::vector<std::size_t> queue;
    for (std::size_t v = 0; v < sys.vars(); ++v) {
        if (sys.value(v) > 0 && sys.value(v) < k) {
            hidden[v] = true;
            queue.push_back(v);
            ++out.primary_count;
            for (const auto& [t, c] : sys.cells_of(v)) {
                out.primary[t][c] = true;
            }
        }
    }
    // Withholding more only widens every interval, so each cell is settled once: first with
    // the linear relaxation (fast), then the exact integer audit sends back any cell the
    // relaxation was too generous about.
    for (const bool integer : {false, true}) {
        std::vector<std::size_t> work = queue;
        if (integer) {
            work.clear();
            for (const auto& e : intervals_of(sys, hidden, k, out.programmes)) {
                work.push_back(sys.var_of(e.table, e.cell));
            }
            work.erase(std::unique(work.begin(), work.end()), work.end());
        }
        for (std::size_t i = 0; i < work.size(); ++i) {
            const std::size_t x = work[i];
            for (;;) {
                const auto b = sys.bounds(hidden, {x}, integer, out.programmes);
                if (!narrow(b.front(), k)) {
                    break;
                }
                const auto next = choose(sys, hidden, x, k);
                if (!next) {
                    break;  // nothing left to withhold: the audit reports it
                }
                hidden[*next] = true;
                ++out.secondary_count;
                work.push_back(*next);
                if (!integer) {
                    queue.push_back(*next);
                }
            }
        }
    }
    for (std::size_t v = 0; v < sys.vars(); ++v) {
        if (hidden[v]) {
            for (const auto& [t, c] : sys.cells_of(v)) {
                out.suppressed[t][c] = true;
            }
        }
    }
    return out;
}

std::vector<exposure> audit(
    const std::vector<table>& tables,
    const std::vector<std::vector<bool>>& suppressed,
    int k,
    std::size_t* programmes
) {
    const linked_system sys(tables);
    std::size_t n = 0;
    auto out = intervals_of(sys, hidden_vars(sys, suppressed), k, n);
    if (programmes != nullptr) {
        *programmes = n;
    }
    return out;
}

std::vector<exposure> intervals(
    const std::vector<table>& tables,
    const std::vector<std::vector<bool>>& suppressed,
    std::size_t* programmes
) {
    const linked_system sys(tables);
    std::size_t n = 0;
    auto out = intervals_of(sys, hidden_vars(sys, suppressed), std::nullopt, n);
    if (programmes != nullptr) {
        *programmes = n;
    }
    return out;
}

}  // namespace casebridge::report
