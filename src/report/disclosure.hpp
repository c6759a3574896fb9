// Statistical disclosure control for the IMO's sector tables: frequency tables with all their
// margins, primary suppression of small counts, secondary suppression so that no suppressed
// cell can be recomputed or narrowed from what is published, and the audit that proves it
// with linear programmes (GLPK). Pure: no I/O, no clock.
//
// Several tables published together are linked: a cell is known by the dimensions it fixes
// ("camp=C1|sex=F"; a dimension a cell does not fix is summed over), so the same count in two
// tables (children by sex, say) is one unknown for an attacker, and both tables are protected
// and audited as one system.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace casebridge::report {

/// A dimension of a table: its categories in the order they are published. A multi-valued
/// dimension (protection concerns: a child may have several) has no additive margin: its cells
/// are each at most the margin, never summed to it.
struct dimension {
    std::string name;
    std::vector<std::string> categories;
    bool multi_valued = false;
    /// The name cells are known by across tables; empty: `name`. A multi-valued dimension
    /// crossed with itself (agency × agency) names its copy differently but gives it the same
    /// identity, so (A, B) and (B, A) are one count and (A, A) is the count of A.
    std::string identity;
};

/// One unit counted by a table (a unique child): for each dimension of the table, the indexes
/// of its categories (exactly one for a single-valued dimension; any number for a multi-valued
/// one). A unit missing a single-valued category is counted in no cell of that table.
struct unit {
    std::vector<std::vector<std::uint32_t>> categories;
};

/// A frequency table with every margin: for d dimensions of n_1..n_d categories it has
/// (n_1+1)·…·(n_d+1) cells; position n_i of dimension i is "all of dimension i".
class table {
public:
    table(std::string id, std::vector<dimension> dims);

    /// Counts `u` in its interior cells and every margin above them.
    void add(const unit& u);

    const std::string& id() const noexcept { return id_; }
    const std::vector<dimension>& dimensions() const noexcept { return dims_; }
    std::size_t size() const noexcept { return counts_.size(); }
    std::int64_t count(std::size_t cell) const { return counts_.at(cell); }
    /// Category index per dimension of `cell` (the dimension's size means "all").
    std::vector<std::uint32_t> position(std::size_t cell) const;
    std::size_t cell_at(const std::vector<std::uint32_t>& position) const;
    /// The cell's identity across linked tables: "dim=category|…" over the dimensions it
    /// fixes (by identity, each pair once), sorted; "" for the grand total.
    std::string key(std::size_t cell) const;
    /// Sets a cell's count directly (a table read back from a published report; −1: withheld,
    /// unknown).
    void set_count(std::size_t cell, std::int64_t value) { counts_.at(cell) = value; }

private:
    std::string id_;
    std::vector<dimension> dims_;
    std::vector<std::size_t> stride_;
    std::vector<std::int64_t> counts_;
};

/// Which cells of each table are withheld (same shape as the tables).
struct suppression {
    std::vector<std::vector<bool>> suppressed;  ///< [table][cell]
    std::vector<std::vector<bool>> primary;     ///< [table][cell]: small counts themselves
    std::size_t primary_count = 0;
    std::size_t secondary_count = 0;
    std::size_t programmes = 0;  ///< Linear programmes solved to choose them.
};

/// What the published cells and margins allow an attacker to deduce of a withheld cell.
struct exposure {
    std::size_t table = 0;
    std::size_t cell = 0;
    double low = 0;
    double high = std::numeric_limits<double>::infinity();  ///< infinity: unbounded
};

/// Primary suppression of every count from 1 to k−1 (zeros are published), then secondary
/// suppression until the audit passes: each withheld cell's feasible interval is at least k
/// wide. Deterministic. Throws std::invalid_argument when k < 2 or linked tables disagree on
/// the count of a shared cell.
suppression protect(const std::vector<table>& tables, int k);

/// Every withheld cell whose feasible interval, given the published cells of all `tables`
/// (integers, a withheld one at least 1 since zeros are always published, additive margins,
/// multi-valued cells at most their margin), is
/// narrower than k; empty when the pattern protects them all. Also flags a withheld cell the
/// published figures pin exactly (width 0).
std::vector<exposure> audit(
    const std::vector<table>& tables,
    const std::vector<std::vector<bool>>& suppressed,
    int k,
    std::size_t* programmes = nullptr
);

/// The feasible interval of every withheld cell (for `report audit` to print).
std::vector<exposure> intervals(
    const std::vector<table>& tables,
    const std::vector<std::vector<bool>>& suppressed,
    std::size_t* programmes = nullptr
);

}  // namespace casebridge::report
