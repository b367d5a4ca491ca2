// socket(2), bind(2), listen(2), poll(2) and accept4(2) are the same on Linux and FreeBSD.
#include "acceptor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "host.h"

namespace vmmstats {
namespace {

// After EMFILE and the like the backlog stays readable: without a pause the thread would spin.
constexpr int kPauseAfterErrorMs = 100;
// Accepted connections JavaScript has not taken yet, at most: past it they wait in the kernel's backlog.
constexpr size_t kMaxWaiting = 4096;

// listenUnix(path: string, backlog: number): { fd } | number (an errno)
Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "listenUnix(path, backlog)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  struct sockaddr_un address {};
  if (path.empty() || path.size() >= sizeof address.sun_path) return Napi::Number::New(env, ENAMETOOLONG);
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  // Non-blocking, so that the thread's accept4 stops at EAGAIN rather than wait for the next connection.
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Napi::Number::New(env, errno);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&address), sizeof address) != 0 ||
      listen(fd, info[1].As<Napi::Number>().Int32Value()) != 0) {
    int error = errno;
    close(fd);
    return Napi::Number::New(env, error);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", Napi::Number::New(env, fd));
  return result;
}

// A connection accepted, with who connected it as the kernel recorded it (or why that could not be read).
struct Accepted {
  int fd;
  PeerCredentials peer;
  int peer_error;
};

// Accepted connections by the process that connected them, taken one process after the other.
class WaitingConnections {
 public:
  void Add(const Accepted& connection) {
    // Connections whose pid cannot be read share one turn, that of pid 0.
    pid_t pid = connection.peer_error == 0 ? connection.peer.pid : 0;
    std::deque<Accepted>& queue = by_process_[pid];
    if (queue.empty()) turns_.push_back(pid);
    queue.push_back(connection);
    ++size_;
  }

  std::vector<Accepted> Take(size_t most) {
    std::vector<Accepted> taken;
    while (taken.size() < most && !turns_.empty()) {
      pid_t pid = turns_.front();
      turns_.pop_front();
      std::deque<Accepted>& queue = by_process_[pid];
      taken.push_back(queue.front());
      queue.pop_front();
      if (queue.empty()) by_process_.erase(pid);
      else turns_.push_back(pid);
    }
    size_ -= taken.size();
    return taken;
  }

  void CloseAll() {
    for (const Accepted& connection : Take(size_)) close(connection.fd);
  }

  size_t size() const { return size_; }

 private:
  std::unordered_map<pid_t, std::deque<Accepted>> by_process_;
  std::deque<pid_t> turns_;
  size_t size_ = 0;
};

// { fd, uid, gid } when the peer's credentials could be read, { fd, errno } otherwise.
Napi::Object ConnectionObject(Napi::Env env, const Accepted& connection) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("fd", Napi::Number::New(env, connection.fd));
  if (connection.peer_error != 0) {
    object.Set("errno", Napi::Number::New(env, connection.peer_error));
  } else {
    object.Set("uid", Napi::Number::New(env, connection.peer.uid));
    object.Set("gid", Napi::Number::New(env, connection.peer.gid));
  }
  return object;
}

// What the accepting thread and JavaScript share, guarded by `mutex`; it outlives the Acceptor until the
// last call queued to JavaScript has run.
struct Shared {
  std::mutex mutex;
  std::condition_variable room;  // the thread waits here while kMaxWaiting connections wait
  WaitingConnections waiting;
  int error = 0;               // what ended the last accept, for the next batch
  bool with_javascript = false;  // a batch has been offered and next() not called yet
  bool stopping = false;
  size_t per_batch = 1;
  Napi::ThreadSafeFunction deliver;

  // With `mutex` held: offers a batch unless one is out already or there is nothing to offer.
  void OfferLocked() {
    if (with_javascript || stopping || (waiting.size() == 0 && error == 0)) return;
    with_javascript = true;
    deliver.NonBlockingCall(this, [](Napi::Env env, Napi::Function onBatch, Shared* shared) { shared->Hand(env, onBatch); });
  }

  // On the JavaScript thread: the next batch to onBatch.
  void Hand(Napi::Env env, Napi::Function onBatch) {
    std::vector<Accepted> connections;
    int taken_error;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (env == nullptr || stopping) return;
      connections = waiting.Take(per_batch);
      taken_error = error;
      error = 0;
      room.notify_one();
    }
    Napi::Array array = Napi::Array::New(env, connections.size());
    for (size_t i = 0; i < connections.size(); ++i) array.Set(i, ConnectionObject(env, connections[i]));
    try {
      onBatch.Call({array, Napi::Number::New(env, taken_error)});
    } catch (const Napi::Error& thrown) {
      thrown.ThrowAsJavaScriptException();  // an uncaught exception, as from any other callback
    }
  }
};

class Acceptor : public Napi::ObjectWrap<Acceptor> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Acceptor",
                       {InstanceMethod<&Acceptor::Next>("next"), InstanceMethod<&Acceptor::Close>("close")});
  }

  // new Acceptor(listeningFd: number, perBatch: number, onBatch: (connections, errno: number) => void), each
  // connection { fd, uid, gid } or { fd, errno }: no batch follows until next() is called, so that JavaScript
  // says when its event loop may take another.
  explicit Acceptor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Acceptor>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsFunction()) {
      throw Napi::TypeError::New(env, "new Acceptor(listeningFd, perBatch, onBatch)");
    }
    listening_fd_ = info[0].As<Napi::Number>().Int32Value();
    shared_->per_batch = static_cast<size_t>(std::max(1, info[1].As<Napi::Number>().Int32Value()));
    if (pipe(wake_) != 0) throw Napi::Error::New(env, std::string("pipe: ") + std::strerror(errno));
    fcntl(wake_[0], F_SETFD, FD_CLOEXEC);
    fcntl(wake_[1], F_SETFD, FD_CLOEXEC);
    // The finalizer keeps `Shared` alive until the queue of calls to JavaScript has drained.
    auto* keep = new std::shared_ptr<Shared>(shared_);
    shared_->deliver = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "vmm-stats accept", 0, 1,
                                                     keep, [](Napi::Env, std::shared_ptr<Shared>* kept) { delete kept; });
    thread_ = std::thread([this] { Run(); });
  }

  ~Acceptor() override { Stop(); }

 private:
  void Next(const Napi::CallbackInfo&) {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->with_javascript = false;
    shared_->OfferLocked();
  }

  void Close(const Napi::CallbackInfo&) { Stop(); }

  void Stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      shared_->stopping = true;
      shared_->room.notify_one();
    }
    char wake = 1;
    while (write(wake_[1], &wake, 1) < 0 && errno == EINTR) {
    }
    thread_.join();
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      shared_->waiting.CloseAll();
    }
    shared_->deliver.Release();
    close(wake_[0]);
    close(wake_[1]);
    close(listening_fd_);
  }

  // The thread: waits for room and for connections, accepts what the backlog holds, offers it.
  void Run() {
    for (;;) {
      if (!WaitForRoom() || !WaitReadable()) return;
      int error = AcceptWhatWaits();
      if (error != 0 && !Pause(kPauseAfterErrorMs)) return;
    }
  }

  // False when asked to stop.
  bool WaitForRoom() {
    std::unique_lock<std::mutex> lock(shared_->mutex);
    shared_->room.wait(lock, [&] { return shared_->stopping || shared_->waiting.size() < kMaxWaiting; });
    return !shared_->stopping;
  }

  // True when the listening socket is readable, false when asked to stop.
  bool WaitReadable() {
    struct pollfd fds[2] = {{listening_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    while (poll(fds, 2, -1) < 0) {
      if (errno != EINTR) return false;
    }
    return fds[1].revents == 0;
  }

  // False when asked to stop meanwhile.
  bool Pause(int ms) {
    struct pollfd wake = {wake_[0], POLLIN, 0};
    return poll(&wake, 1, ms) == 0;
  }

  // Accepts until the backlog is empty or kMaxWaiting wait; the errno that ended it, 0 for EAGAIN.
  int AcceptWhatWaits() {
    std::vector<Accepted> accepted;
    int error = 0;
    size_t room = kMaxWaiting - WaitingNow();
    while (accepted.size() < room) {
      int fd = accept4(listening_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) error = errno;
        break;
      }
      Accepted connection{fd, {}, 0};
      connection.peer_error = GetPeerCredentials(fd, &connection.peer);
      accepted.push_back(connection);
    }
    std::lock_guard<std::mutex> lock(shared_->mutex);
    for (const Accepted& connection : accepted) shared_->waiting.Add(connection);
    if (error != 0) shared_->error = error;
    shared_->OfferLocked();
    return error;
  }

  size_t WaitingNow() {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    return shared_->waiting.size();
  }

  int listening_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::thread thread_;
};

}  // namespace

void RegisterAcceptor(Napi::Env env, Napi::Object exports) {
  exports.Set("listenUnix", Napi::Function::New<ListenUnix>(env, "listenUnix"));
  exports.Set("Acceptor", Acceptor::Define(env));
}

}  // namespace vmmstats
