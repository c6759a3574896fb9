#include "core/uuid.hpp"

#include <algorithm>

#include <boost/uuid/name_generator_sha1.hpp>
#include <boost/uuid/uuid.hpp>
#include <boost/uuid/uuid_io.hpp>

#include "core/encoding.hpp"

namespace casebridge {
namespace {

boost::uuids::uuid to_boost(const uuid_bytes& u) {
    boost::uuids::uuid out{};
    std::copy(u.begin(), u.end(), out.begin());
    return out;
}

}  // namespace

std::optional<uuid_bytes> parse_uuid(std::string_view text) {
    if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' ||
        text[23] != '-') {
        return std::nullopt;
    }
    std::string hex;
    hex.reserve(32);
    for (const auto& [at, n] : {std::pair{0, 8}, {9, 4}, {14, 4}, {19, 4}, {24, 12}}) {
        hex += text.substr(static_cast<std::size_t>(at), static_cast<std::size_t>(n));
    }
    const auto raw = from_hex(hex);
    if (!raw) {
        return std::nullopt;
    }
    uuid_bytes out{};
    std::copy(raw->begin(), raw->end(), out.begin());
    return out;
}

std::string format_uuid(const uuid_bytes& u) {
    return boost::uuids::to_string(to_boost(u));
}

std::string uuid_v5(const uuid_bytes& ns, std::string_view name) {
    const boost::uuids::name_generator_sha1 generate(to_boost(ns));
    return boost::uuids::to_string(generate(name.data(), name.size()));
}

std::string uuid_v5(std::string_view name) {
    static const uuid_bytes ns = *parse_uuid(casebridge_uuid_namespace);
    return uuid_v5(ns, name);
}

}  // namespace casebridge
