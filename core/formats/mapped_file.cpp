#include "core/formats/mapped_file.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "core/formats/error.h"

namespace umt5 {

namespace {

// The ranges, readable from the signal handler without locks: a slot is in use while begin != 0. Written only
// under g_mutex; the labels are read outside the handler only.
constexpr int kSlots = 64;
struct Slot {
    std::atomic<uintptr_t> begin{0};
    std::atomic<uintptr_t> end{0};
    std::atomic<bool> damaged{false};
};
Slot g_slots[kSlots];
std::string g_labels[kSlots];
std::atomic<int> g_faults{0};  // how many faults the handler turned into zero pages, ever
std::mutex g_mutex;
bool g_installed = false;
struct sigaction g_previous {};

void on_sigbus(int signal, siginfo_t* info, void* context) {
    const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
    for (Slot& slot : g_slots) {
        const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
        if (begin == 0 || address < begin || address >= slot.end.load(std::memory_order_acquire)) continue;
        const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
        void* at = reinterpret_cast<void*>(address & ~(page - 1));
        // A private anonymous page (zeros) in place of the file's page that no longer exists; the faulting
        // read is restarted on return and reads zeros, which check_mapped_read then refuses.
        if (::mmap(at, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
            slot.damaged.store(true, std::memory_order_relaxed);
            g_faults.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        break;
    }
    // Not ours (or the page could not be replaced): what would have happened without this handler.
    if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction) {
        g_previous.sa_sigaction(signal, info, context);
        return;
    }
    if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN && g_previous.sa_handler) {
        g_previous.sa_handler(signal);
        return;
    }
    // Default action: restore it; returning restarts the faulting access, which now kills the process as usual.
    ::signal(SIGBUS, SIG_DFL);
}

}  // namespace

bool register_mapping(const void* begin, size_t length, std::string label) {
    const auto b = reinterpret_cast<uintptr_t>(begin);
    if (b == 0 || length == 0) return false;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_installed) {
        struct sigaction action {};
        action.sa_sigaction = on_sigbus;
        action.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&action.sa_mask);
        if (::sigaction(SIGBUS, &action, &g_previous) != 0) return false;
        g_installed = true;
    }
    for (int i = 0; i < kSlots; ++i) {
        if (g_slots[i].begin.load(std::memory_order_relaxed) != 0) continue;
        g_labels[i] = std::move(label);
        g_slots[i].damaged.store(false, std::memory_order_relaxed);
        g_slots[i].end.store(b + length, std::memory_order_release);
        g_slots[i].begin.store(b, std::memory_order_release);
        return true;
    }
    return false;
}

void unregister_mapping(const void* begin) {
    const auto b = reinterpret_cast<uintptr_t>(begin);
    std::lock_guard<std::mutex> lock(g_mutex);
    for (Slot& slot : g_slots) {
        if (slot.begin.load(std::memory_order_relaxed) != b) continue;
        slot.begin.store(0, std::memory_order_release);
        slot.end.store(0, std::memory_order_release);
    }
}

void check_mapped_read(const void* p) {
    if (g_faults.load(std::memory_order_relaxed) == 0) return;
    const auto address = reinterpret_cast<uintptr_t>(p);
    for (int i = 0; i < kSlots; ++i) {
        const Slot& slot = g_slots[i];
        const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
        if (begin == 0 || address < begin || address >= slot.end.load(std::memory_order_acquire)) continue;
        if (!slot.damaged.load(std::memory_order_relaxed)) return;
        std::string label;
        {
            std::lock_guard<std::mutex> lock(g_mutex);
            label = g_labels[i];
        }
        throw Error(label + ": the file was truncated or replaced in place while the model was using it; load the "
                            "model again");
    }
}

}  // namespace umt5
