// A test helper: a document's member set, replacing the value it had.
#pragma once

#include <rapidjson/document.h>

namespace casebridge::test {

/// Sets `doc[field]` to `v` (moved from): the member's value is replaced, or the member added
/// with a copy of `field` as its name.
inline void set_member(rapidjson::Document& doc, const char* field, rapidjson::Value& v) {
    if (doc.HasMember(field)) {
        doc[field] = v;
    } else {
        doc.AddMember(rapidjson::Value(field, doc.GetAllocator()), v, doc.GetAllocator());
    }
}

inline void set_member(rapidjson::Document& doc, const char* field, rapidjson::Value&& v) {
    set_member(doc, field, v);
}

}  // namespace casebridge::test
