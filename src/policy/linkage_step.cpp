#include "policy/linkage_step.hpp"

#include <algorithm>
#include <mutex>
#include <optional>
#include <set>

#include "core/encoding.hpp"
#include "core/result.hpp"

namespace casebridge::policy {

struct linkage_step::impl {
    linkage::linkage_schema schema;
    std::filesystem::path file;
    std::vector<std::string> fields;
    mutable std::mutex mutex;
    mutable std::optional<linkage::encoder> enc;  // guarded by mutex; empty: no secret

    impl(linkage::linkage_schema s, std::filesystem::path f)
        : schema(std::move(s)), file(std::move(f)) {}
};

linkage_step::linkage_step(
    linkage::linkage_schema schema, std::filesystem::path schema_file, std::string secret
)
    : impl_(std::make_unique<impl>(std::move(schema), std::move(schema_file))) {
    std::set<std::string> paths;
    for (const auto& f : impl_->schema.fields) {
        for (const auto& s : f.sources) {
            paths.insert(f.subform + s);
        }
        if (!f.estimated_flag.empty()) {
            paths.insert(f.estimated_flag);
        }
    }
    for (const auto& id : impl_->schema.identifiers) {
        paths.insert(id.source);
    }
    impl_->fields.assign(paths.begin(), paths.end());
    if (!secret.empty()) {
        impl_->enc.emplace(impl_->schema, std::move(secret));
    }
}

linkage_step::~linkage_step() = default;

int linkage_step::schema_version() const noexcept {
    return impl_->schema.version;
}

std::size_t linkage_step::encoded_words() const noexcept {
    return impl_->schema.encoded_words();
}

const std::filesystem::path& linkage_step::schema_file() const noexcept {
    return impl_->file;
}

const std::vector<std::string>& linkage_step::encoded_fields() const noexcept {
    return impl_->fields;
}

bool linkage_step::ready() const noexcept {
    return impl_->enc.has_value();
}

linkage::encoded_record linkage_step::encode(const rapidjson::Value& record) const {
    std::lock_guard lock(impl_->mutex);
    CASEBRIDGE_CHECK(impl_->enc.has_value());
    return impl_->enc->encode(record);
}

std::string filter_bytes(const std::vector<std::uint64_t>& filter) {
    std::string bytes;
    bytes.reserve(filter.size() * 8);
    for (const std::uint64_t word : filter) {
        for (int i = 0; i < 8; ++i) {
            bytes.push_back(static_cast<char>((word >> (8 * i)) & 0xffU));
        }
    }
    return bytes;
}

rapidjson::Value linkage_wire_form(
    int schema_version,
    const linkage::encoded_record& encoding,
    rapidjson::Document::AllocatorType& allocator
) {
    rapidjson::Value out(rapidjson::kObjectType);
    out.AddMember("schema_version", schema_version, allocator);
    const std::string filter = base64_encode(filter_bytes(encoding.filter));
    out.AddMember("filter", rapidjson::Value(filter.c_str(), allocator), allocator);
    rapidjson::Value tokens(rapidjson::kArrayType);
    for (const auto& t : encoding.tokens) {
        std::string be(8, '\0');
        for (int i = 0; i < 8; ++i) {
            be[static_cast<std::size_t>(i)] = static_cast<char>((t.value >> (56 - 8 * i)) & 0xffU);
        }
        const std::string hex = to_hex(be);
        rapidjson::Value token(rapidjson::kObjectType);
        token.AddMember("kind", t.kind, allocator);
        token.AddMember("value", rapidjson::Value(hex.c_str(), allocator), allocator);
        tokens.PushBack(token, allocator);
    }
    out.AddMember("tokens", tokens, allocator);
    return out;
}

}  // namespace casebridge::policy
