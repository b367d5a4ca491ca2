// N-API glue for host.h: the open-files limit (peer credentials go with each accepted connection, acceptor.h).
#include "host_addon.h"

#include "host.h"

namespace vmmstats {
namespace {

// raiseOpenFilesLimit(): { soft, hard, errno }, the limits as numbers (2^53 and more as Infinity)
Napi::Value RaiseOpenFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OpenFilesLimit limit{};
  int error = RaiseOpenFilesLimit(&limit);
  Napi::Object result = Napi::Object::New(env);
  result.Set("soft", Napi::Number::New(env, static_cast<double>(limit.soft)));
  result.Set("hard", Napi::Number::New(env, static_cast<double>(limit.hard)));
  result.Set("errno", Napi::Number::New(env, error));
  return result;
}

}  // namespace

void RegisterHost(Napi::Env env, Napi::Object exports) {
  exports.Set("raiseOpenFilesLimit", Napi::Function::New<RaiseOpenFiles>(env, "raiseOpenFilesLimit"));
}

}  // namespace vmmstats
