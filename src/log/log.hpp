// Structured JSON-lines logging on stderr. Ids, counts, field names and error codes only:
// messages are compile-time text, so a value read at run time cannot become one.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>
#include <rapidjson/fwd.h>

#include "core/clock.hpp"

namespace casebridge {

enum class log_level { trace, debug, info, warn, error, off };

/// "trace", "debug", "info", "warn", "error" or "off".
std::optional<log_level> parse_log_level(std::string_view name);
std::string_view to_string(log_level level);

/// Text fixed at compile time: a string literal. Event names, messages and count names can
/// only be of this type, so a field value read at run time cannot be logged as text.
class static_text {
public:
    template <std::size_t N>
    consteval static_text(const char (&literal)[N]) : text_(literal, N - 1) {}  // NOLINT
    constexpr std::string_view view() const noexcept { return text_; }

private:
    std::string_view text_;
};

/// An event name fixed at compile time, dotted: "area.what" (lower-case letters, digits and
/// underscores in two or more parts joined by dots), e.g. "flow.run_started". Anything else
/// does not compile.
class event_name {
public:
    template <std::size_t N>
    consteval event_name(const char (&literal)[N]) : text_(literal, N - 1) {  // NOLINT
        if (!valid(text_)) {
            throw "an event name is dotted: lower-case words joined by dots, e.g. flow.run_started";
        }
    }
    constexpr std::string_view view() const noexcept { return text_; }

    static constexpr bool valid(std::string_view s) noexcept {
        std::size_t parts = 1;
        bool part_empty = true;
        for (const char c : s) {
            if (c == '.') {
                if (part_empty) {
                    return false;
                }
                ++parts;
                part_empty = true;
            } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
                part_empty = false;
            } else {
                return false;
            }
        }
        return parts >= 2 && !part_empty;
    }

private:
    std::string_view text_;
};

/// How a record appears in a log line: its system and its id, nothing else.
struct record_ref {
    std::string system;
    std::string id;

    /// The reference of a record body: reads only the member `id_member` (a string or integer).
    /// A record without that member is logged as "?", one whose member is not token text as
    /// "#not-an-id" (core/token_text.hpp).
    static record_ref of(
        std::string_view system, const rapidjson::Value& record, static_text id_member
    );
};

/// A named number in a log line: a count or a duration in milliseconds.
struct log_count {
    static_text name;
    std::int64_t value;
};

/// What a log line may carry besides its event and message.
struct log_fields {
    std::string_view flow;                      ///< Flow id.
    std::string_view system;                    ///< System id.
    std::optional<record_ref> record;           ///< Record reference.
    boost::system::error_code error;            ///< Error, logged as name + fixed text.
    std::vector<log_count> counts;              ///< Named counts, durations (ms).
    std::vector<std::string_view> field_names;  ///< Names of fields, never values.
};

/// Receives complete log lines (each ends in '\n').
class log_sink {
public:
    virtual ~log_sink() = default;
    virtual void write(std::string_view line) = 0;
};

/// Writes lines to stderr, one write per line, under a lock.
class stderr_sink final : public log_sink {
public:
    void write(std::string_view line) override;
    static stderr_sink& instance();

private:
    std::mutex mutex_;
};

/// Keeps lines in memory (tests).
class memory_sink final : public log_sink {
public:
    void write(std::string_view line) override;
    std::vector<std::string> lines() const;
    std::string text() const;

private:
    mutable std::mutex mutex_;
    std::vector<std::string> lines_;
};

/// A cheap-to-copy handle that formats and writes log lines. Thread-safe when its sink is.
class logger {
public:
    logger(log_sink& sink, const clock_source& clock, log_level min_level = log_level::info);

    /// A copy whose lines carry `flow` unless a call names another.
    logger with_flow(std::string flow) const;
    /// A copy whose lines carry `system` unless a call names another.
    logger with_system(std::string system) const;

    bool enabled(log_level level) const noexcept { return level >= min_level_; }
    void set_level(log_level level) noexcept { min_level_ = level; }

    void log(log_level level, event_name event, static_text msg, const log_fields& fields = {})
        const;
    void trace(event_name event, static_text msg, const log_fields& f = {}) const {
        log(log_level::trace, event, msg, f);
    }
    void debug(event_name event, static_text msg, const log_fields& f = {}) const {
        log(log_level::debug, event, msg, f);
    }
    void info(event_name event, static_text msg, const log_fields& f = {}) const {
        log(log_level::info, event, msg, f);
    }
    void warn(event_name event, static_text msg, const log_fields& f = {}) const {
        log(log_level::warn, event, msg, f);
    }
    void error(event_name event, static_text msg, const log_fields& f = {}) const {
        log(log_level::error, event, msg, f);
    }

private:
    log_sink* sink_;
    const clock_source* clock_;
    log_level min_level_;
    std::shared_ptr<const std::string> flow_;
    std::shared_ptr<const std::string> system_;
};

}  // namespace casebridge
