#include "net/json_answer.hpp"

#include <utility>

#include <rapidjson/writer.h>

namespace casebridge::httpd {

response json_answer(unsigned status, std::string body) {
    response r;
    r.status = status;
    r.body = std::move(body) + "\n";
    return r;
}

response json_answer(unsigned status, const rapidjson::StringBuffer& body) {
    return json_answer(status, std::string(body.GetString(), body.GetSize()));
}

response error_answer(unsigned status, std::string_view code) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("error");
    w.String(code.data(), static_cast<rapidjson::SizeType>(code.size()));
    w.EndObject();
    auto r = json_answer(status, sb);
    if (status == 401) {
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
    }
    return r;
}

}  // namespace casebridge::httpd
