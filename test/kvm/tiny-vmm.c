/* The smallest VMM the sampler tests can watch: one VM with one page of guest memory and VCPUS vCPUs in real
 * mode, each running a loop that writes a byte to port 0x3f8 again and again. Every OUT is a KVM_EXIT_IO this
 * process answers, so KVM's exit counters of the VM keep rising while it runs.
 *   tiny-vmm [VCPUS]         prints "ready" once each vCPU has made its first exits, then runs until killed
 *   tiny-vmm VCPUS WRITES    prints "ready" once each vCPU has made exactly WRITES port writes, then stops
 *                            running them (KVM's counters stay still) and waits to be killed
 * With --stats-fds=vcpu it keeps each vCPU's KVM statistics fd open, as QEMU does; with --stats-fds=all the
 * VM's too. Without, it keeps none, as solo5-hvt does.
 * One thread runs the vCPUs in turn: every write comes back here, so none of them waits long for its turn.
 * Exit status 2: no usable /dev/kvm; 3: no KVM statistics fd (Linux before 5.14); 1: anything else failed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUEST_ADDRESS 0x1000
#define GUEST_PORT 0x3f8
#define WRITES_BEFORE_READY 1000
#define MAX_VCPUS 8

static void fail(const char *what, int status) {
  fprintf(stderr, "tiny-vmm: %s: %s\n", what, strerror(errno));
  exit(status);
}

static void usage(void) {
  fprintf(stderr, "usage: tiny-vmm [--stats-fds=vcpu|all] [VCPUS (1-%d) [WRITES (1-)]]\n", MAX_VCPUS);
  exit(1);
}

/* Opens fd's statistics fd and leaves it open. */
static void keep_stats_fd(int fd) {
  if (ioctl(fd, KVM_GET_STATS_FD, 0) < 0) fail("KVM_GET_STATS_FD", 3);
}

static unsigned long argument(const char *text, unsigned long high) {
  char *end;
  unsigned long value = strtoul(text, &end, 10);
  if (*text < '0' || *text > '9' || *end != '\0' || value < 1 || value > high) usage();
  return value;
}

/* Real mode, loaded at GUEST_ADDRESS:
 *   mov dx, 0x3f8    ba f8 03
 * again:
 *   out dx, al       ee
 *   inc al           fe c0
 *   jmp again        eb fb      (back 5 bytes, from the end of the jmp to the out) */
static const uint8_t guest_code[] = {0xba, GUEST_PORT & 0xff, GUEST_PORT >> 8, 0xee, 0xfe, 0xc0, 0xeb, 0xfb};

struct vcpu {
  int fd;
  struct kvm_run *run;
};

/* A vCPU with its code segment at 0, so that IP is the physical address. */
static struct vcpu create_vcpu(int kvm, int vm, int id) {
  struct vcpu vcpu = {.fd = ioctl(vm, KVM_CREATE_VCPU, id)};
  if (vcpu.fd < 0) fail("KVM_CREATE_VCPU", 1);
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < (int)sizeof(struct kvm_run)) fail("KVM_GET_VCPU_MMAP_SIZE", 1);
  vcpu.run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu.fd, 0);
  if (vcpu.run == MAP_FAILED) fail("mmap kvm_run", 1);

  struct kvm_sregs sregs;
  if (ioctl(vcpu.fd, KVM_GET_SREGS, &sregs) < 0) fail("KVM_GET_SREGS", 1);
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu.fd, KVM_SET_SREGS, &sregs) < 0) fail("KVM_SET_SREGS", 1);
  struct kvm_regs regs = {.rip = GUEST_ADDRESS, .rflags = 0x2};
  if (ioctl(vcpu.fd, KVM_SET_REGS, &regs) < 0) fail("KVM_SET_REGS", 1);
  return vcpu;
}

/* Runs the vCPU up to its next port write. */
static void run_to_write(const struct vcpu *vcpu) {
  while (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
    if (errno != EINTR) fail("KVM_RUN", 1);
  }
  if (vcpu->run->exit_reason != KVM_EXIT_IO || vcpu->run->io.port != GUEST_PORT) {
    fprintf(stderr, "tiny-vmm: unexpected exit reason %u\n", vcpu->run->exit_reason);
    exit(1);
  }
}

int main(int argc, char **argv) {
  int vm_stats = 0, vcpu_stats = 0;
  if (argc > 1 && strncmp(argv[1], "--", 2) == 0) {
    if (strcmp(argv[1], "--stats-fds=all") == 0) vm_stats = 1;
    else if (strcmp(argv[1], "--stats-fds=vcpu") != 0) usage();
    vcpu_stats = 1;
    argc--;
    argv++;
  }
  if (argc > 3) usage();
  int vcpu_count = argc > 1 ? (int)argument(argv[1], MAX_VCPUS) : 1;
  unsigned long writes = argc > 2 ? argument(argv[2], ULONG_MAX) : 0;

  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) fail("open /dev/kvm", 2);
  if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) fail("KVM_GET_API_VERSION", 2);

  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) fail("KVM_CREATE_VM", 2);
  /* Intel VMX without unrestricted guest emulates real mode through a TSS somewhere in guest physical
   * space; three pages just under 4 GiB are out of the way (the address QEMU uses). AMD ignores it. */
  if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0) fail("KVM_SET_TSS_ADDR", 1);

  uint8_t *memory = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) fail("mmap guest memory", 1);
  memcpy(memory, guest_code, sizeof guest_code);
  struct kvm_userspace_memory_region region = {
      .slot = 0,
      .guest_phys_addr = GUEST_ADDRESS,
      .memory_size = 0x1000,
      .userspace_addr = (uint64_t)(uintptr_t)memory,
  };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) fail("KVM_SET_USER_MEMORY_REGION", 1);
  if (vm_stats) keep_stats_fd(vm);

  /* Without an in-kernel irqchip every vCPU starts runnable, not just the first. */
  struct vcpu vcpus[MAX_VCPUS];
  for (int i = 0; i < vcpu_count; i++) {
    vcpus[i] = create_vcpu(kvm, vm, i);
    if (vcpu_stats) keep_stats_fd(vcpus[i].fd);
  }

  unsigned long ready_at = writes != 0 ? writes : WRITES_BEFORE_READY;
  for (unsigned long round = 1; writes == 0 || round <= writes; round++) {
    for (int i = 0; i < vcpu_count; i++) run_to_write(&vcpus[i]);
    if (round == ready_at) {
      printf("ready\n");
      fflush(stdout);
    }
  }
  for (;;) pause();
}
