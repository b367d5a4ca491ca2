// N-API glue for host.h: peer credentials of a connected Unix socket, and the open-files limit.
#include "host_addon.h"

#include "host.h"

namespace vmmstats {
namespace {

// peerCredentials(fd: number): { uid, gid } | number (an errno)
Napi::Value PeerCredentialsOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "argument 0 must be a file descriptor");
  PeerCredentials credentials{};
  int error = GetPeerCredentials(info[0].As<Napi::Number>().Int32Value(), &credentials);
  if (error != 0) return Napi::Number::New(env, error);
  Napi::Object result = Napi::Object::New(env);
  result.Set("uid", Napi::Number::New(env, credentials.uid));
  result.Set("gid", Napi::Number::New(env, credentials.gid));
  return result;
}

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
  exports.Set("peerCredentials", Napi::Function::New<PeerCredentialsOf>(env, "peerCredentials"));
  exports.Set("raiseOpenFilesLimit", Napi::Function::New<RaiseOpenFiles>(env, "raiseOpenFilesLimit"));
}

}  // namespace vmmstats
