// Headless Chromium driven through its DevTools protocol, for tests of pages casebridge serves:
// navigate, run a script in the page and read its value, wait for a condition, take a
// screenshot, and collect what the page's console and the browser log as errors (script
// errors, Content-Security-Policy refusals, failed loads). Loopback only; no network.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace casebridge::test {

class browser {
public:
    /// True when `chromium` is on the PATH (.ci/install-deps installs it).
    static bool available();

    /// Starts Chromium headless with a fresh profile under `scratch`, a window of
    /// `width`×`height`, and connects to its first page. Throws std::runtime_error when it
    /// cannot (no browser, no DevTools port within 60 s).
    browser(const std::filesystem::path& scratch, int width = 1280, int height = 900);
    ~browser();
    browser(const browser&) = delete;
    browser& operator=(const browser&) = delete;

    /// Loads `url` and waits for the load event (at most `limit`).
    void navigate(
        const std::string& url, std::chrono::milliseconds limit = std::chrono::seconds(30)
    );
    /// Runs `expression` in the page (promises awaited) and returns its value as JSON text
    /// ("null" for undefined). Throws std::runtime_error when the script throws.
    std::string eval(const std::string& expression);
    /// Polls `condition` (a JavaScript expression) until it is true; false after `limit`.
    bool wait_for(
        const std::string& condition, std::chrono::milliseconds limit = std::chrono::seconds(20)
    );
    /// The page as a PNG image.
    std::string screenshot_png();
    /// Errors seen since the start: console errors, uncaught exceptions, log entries at level
    /// error (a CSP refusal, a failed load), each as one line.
    std::vector<std::string> errors() const;
    void clear_errors();

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace casebridge::test
