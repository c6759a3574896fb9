// Several agencies and the CPSS IMO's hub on one machine, for `casebridge demo --imo` and the
// end-to-end tests of the IMO use (docs/imo.md): one CPIMS+ sandbox per agency serving its
// share of one synthetic population (overlapping children with field errors, the truth
// known), one casebridge engine per agency with its own store and two flows (cases to the hub,
// the hub's notices back as case flags), and one hub service. Configurations are written as
// files, so each engine and the hub are built exactly as `casebridge run` and `hub serve`
// build them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "log/log.hpp"
#include "sync/flow_runner.hpp"

namespace casebridge {
class adapter_registry;
}
namespace casebridge::sandbox {
class primero_sandbox;
}
namespace casebridge::app {
class engine;
}
namespace casebridge::hub {
class service;
}

namespace casebridge::cli {

struct imo_agency {
    std::string id;
    std::string display_name;
};

struct imo_world_options {
    std::filesystem::path dir;  ///< Configurations, stores and secrets go here (created).
    /// Holds mappings/ and config/policies.json (the shipped data or a copy of it).
    std::filesystem::path data_dir;
    std::uint64_t seed = 2026;
    std::size_t children = 300;
    std::vector<imo_agency> agencies = {
        {"agency-a", "Agency A"}, {"agency-b", "Agency B"}, {"agency-c", "Agency C"}};
    double without_consent = 0.05;  ///< Share of each agency's cases without a basis.
    /// The hub over TLS with client certificates (one pair per agency, CN = agency id);
    /// without it the hub speaks plain HTTP on loopback.
    struct tls_files {
        std::filesystem::path ca_file;  ///< Signs the server's and the agencies' certificates.
        std::filesystem::path server_cert, server_key;
        std::vector<std::pair<std::filesystem::path, std::filesystem::path>> agency_cert_key;
    };
    std::optional<tls_files> tls;
    /// The adapters the agencies' engines are built with (the built-in ones).
    const adapter_registry* adapters = nullptr;
};

/// One agency's cases and the truth about them.
struct imo_share {
    std::map<std::string, std::uint32_t> child_of;  ///< Case id → child.
    std::set<std::string> without_consent;          ///< Case ids with no basis to report.
};

class imo_world {
public:
    static constexpr std::string_view records_flow = "cpims-to-imo-hub";
    static constexpr std::string_view notices_flow = "imo-hub-notices";

    /// Starts the sandboxes and the hub, writes the configurations and builds the engines.
    /// Throws std::runtime_error naming what failed.
    imo_world(imo_world_options o, const clock_source& clock, logger log);
    ~imo_world();
    imo_world(const imo_world&) = delete;
    imo_world& operator=(const imo_world&) = delete;

    const imo_world_options& options() const noexcept;
    std::size_t agency_count() const noexcept;
    sandbox::primero_sandbox& cpims(std::size_t agency);
    const imo_share& share(std::size_t agency) const;
    app::engine& engine(std::size_t agency);
    /// The hub in this process; throws after release_hub().
    hub::service& hub();
    /// Stops the hub in this process (its store closed, as `casebridge hub serve` may now
    /// use it) ...
    void release_hub();
    /// ... and starts it again from its configuration, on a new port the agencies are told of.
    void restart_hub();
    /// Writes every agency's configuration again with the hub at `base_url` (a hub started
    /// elsewhere) and rebuilds the engines that were built.
    void use_hub_at(const std::string& base_url);
    std::filesystem::path agency_config(std::size_t agency) const;
    std::filesystem::path hub_config() const;

    /// Runs one flow of one agency once, to its end; `from_start` ignores its stored cursor.
    sync::run_report run(std::size_t agency, std::string_view flow_id, bool from_start = false);
    /// Every agency's records flow, then waits for the hub's linkage to settle.
    std::vector<sync::run_report> send_all();
    /// Every agency's notices flow.
    std::vector<sync::run_report> notify_all();
    /// Drops agency k's engine (its store closed, as another process may now use it) ...
    void release_agency(std::size_t agency);
    /// ... and builds it again from its configuration (a no-op when it is there).
    void restart_agency(std::size_t agency);

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

/// What the flags on the agencies' cases say, checked against the truth.
struct imo_flag_report {
    std::vector<std::size_t> flagged_cases;   ///< Per agency: cases with an active IMO flag.
    std::vector<std::size_t> resolved_flags;  ///< Per agency: IMO flags resolved.
    std::size_t references = 0;               ///< Distinct references on active flags.
    std::size_t true_pairs = 0;       ///< Cross-agency pairs of one child, both with a basis.
    std::size_t predicted_pairs = 0;  ///< Cross-agency pairs of cases sharing a reference.
    std::size_t correct_pairs = 0;
    /// Each broken rule, naming agency and case id: a case with two references or two active
    /// IMO flags of one reference, a reference on fewer than two agencies or on two cases of
    /// one agency, a flag naming the wrong agencies, a flag on a case without a basis.
    std::vector<std::string> problems;

    double precision() const {
        return predicted_pairs == 0 ? 1.0 : double(correct_pairs) / double(predicted_pairs);
    }
    double recall() const {
        return true_pairs == 0 ? 1.0 : double(correct_pairs) / double(true_pairs);
    }
};

/// Reads every case's flags from the sandboxes and checks them.
imo_flag_report check_flags(imo_world& world);

}  // namespace casebridge::cli
