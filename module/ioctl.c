// SPDX-License-Identifier: GPL-2.0-only
/*
 * /dev/rpal ioctl dispatch: one rpal_ioc_<name>() per command.
 *
 * Every handler validates in the same order: the struct's size field
 * (copy_struct_from_user semantics), unknown flags, reserved fields, then
 * state. On error nothing is written back.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/build_bug.h>
#include <linux/ctype.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <uapi/rpal.h>

#include "internal.h"

/*
 * Copy in a struct whose first field is its __u32 size. Shorter than the
 * first version: -EINVAL. Longer than we know with a non-zero tail: -E2BIG.
 */
static int rpal_copy_in(void *karg, size_t ksize, size_t ver0,
			void __user *uarg, u32 *usize)
{
	u32 size;

	if (get_user(size, (u32 __user *)uarg))
		return -EFAULT;
	if (size < ver0)
		return -EINVAL;
	if (size > PAGE_SIZE)
		return -E2BIG;
	*usize = size;
	return copy_struct_from_user(karg, ksize, uarg, size);
}

/* Write back no more than the caller's struct holds, with size set. */
static int rpal_copy_out(void __user *uarg, void *karg, size_t ksize,
			 u32 usize)
{
	u32 n = min_t(u32, usize, ksize);

	*(u32 *)karg = n;
	return copy_to_user(uarg, karg, n) ? -EFAULT : 0;
}

static long rpal_ioc_version(void __user *uarg)
{
	struct rpal_version v;
	u32 usize;
	int ret;

	ret = rpal_copy_in(&v, sizeof(v), RPAL_VERSION_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (v.flags)
		return -EINVAL;
	if (memchr_inv(v.resv, 0, sizeof(v.resv)))
		return -EINVAL;

	memset(&v, 0, sizeof(v));
	v.api = RPAL_API_VERSION;
	v.features = rpal_caps_features();
	v.commands = rpal_ioctl_commands();
	v.module_version = ((u64)RPAL_VERSION_MAJOR << 32) |
			   (RPAL_VERSION_MINOR << 16) | RPAL_VERSION_PATCH;
	return rpal_copy_out(uarg, &v, sizeof(v), usize);
}

/* The fd's service, if it is registered and the caller is its process. */
static int rpal_file_service(struct rpal_file *rf, struct rpal_service **svc)
{
	lockdep_assert_held(&rpal_mutex);
	*svc = rf->svc;
	if (!*svc || (*svc)->state != RPAL_SVC_ACTIVE)
		return -ENOENT;
	if ((*svc)->mm != current->mm)
		return -EPERM;
	return 0;
}

static long rpal_ioc_register(struct rpal_file *rf, void __user *uarg)
{
	struct rpal_register r;
	char name[RPAL_NAME_LEN];
	u32 usize;
	int ret;

	ret = rpal_copy_in(&r, sizeof(r), RPAL_REGISTER_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (r.flags || memchr_inv(r.resv, 0, sizeof(r.resv)))
		return -EINVAL;
	if (!current->mm)
		return -EINVAL;
	memcpy(name, r.name, sizeof(name));

	memset(&r, 0, sizeof(r));
	mutex_lock(&rpal_mutex);
	ret = rpal_service_register(rf, name, &r);
	mutex_unlock(&rpal_mutex);
	if (ret)
		return ret;
	ret = rpal_copy_out(uarg, &r, sizeof(r), usize);
	if (ret) {
		/* Nobody learnt the id or token: undo, report nothing. */
		mutex_lock(&rpal_mutex);
		rpal_service_unregister(rf);
		mutex_unlock(&rpal_mutex);
	}
	return ret;
}

static long rpal_ioc_unregister(struct rpal_file *rf, void __user *uarg)
{
	struct rpal_unregister u;
	struct rpal_service *svc;
	u32 usize;
	int ret;

	ret = rpal_copy_in(&u, sizeof(u), RPAL_UNREGISTER_SIZE_VER0, uarg,
			   &usize);
	if (ret)
		return ret;
	if (u.flags || memchr_inv(u.resv, 0, sizeof(u.resv)))
		return -EINVAL;
	mutex_lock(&rpal_mutex);
	ret = rpal_file_service(rf, &svc);
	if (!ret)
		rpal_service_unregister(rf);
	mutex_unlock(&rpal_mutex);
	return ret;
}

static long rpal_ioc_request(struct rpal_file *rf, void __user *uarg)
{
	struct rpal_request r;
	struct rpal_service *svc;
	u32 usize;
	int ret;

	ret = rpal_copy_in(&r, sizeof(r), RPAL_REQUEST_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (r.flags || memchr_inv(r.resv, 0, sizeof(r.resv)))
		return -EINVAL;
	mutex_lock(&rpal_mutex);
	ret = rpal_file_service(rf, &svc);
	if (!ret)
		ret = rpal_share_request(svc, &r);
	mutex_unlock(&rpal_mutex);
	if (ret)
		return ret;
	/*
	 * A request that cannot be reported stays made: the caller can see
	 * it with -EALREADY, or release it.
	 */
	return rpal_copy_out(uarg, &r, sizeof(r), usize);
}

static long rpal_ioc_release(struct rpal_file *rf, void __user *uarg)
{
	struct rpal_release r;
	struct rpal_service *svc;
	u32 usize;
	int ret;

	ret = rpal_copy_in(&r, sizeof(r), RPAL_RELEASE_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (r.flags || r.pad || memchr_inv(r.resv, 0, sizeof(r.resv)))
		return -EINVAL;
	mutex_lock(&rpal_mutex);
	ret = rpal_file_service(rf, &svc);
	if (!ret)
		ret = rpal_share_release(svc, r.peer_id);
	mutex_unlock(&rpal_mutex);
	return ret;
}

static long rpal_ioc_exec_place(struct rpal_file *rf, void __user *uarg)
{
	struct rpal_exec_place e;
	char name[RPAL_NAME_LEN];
	size_t i, n;
	u32 usize;
	int ret;

	ret = rpal_copy_in(&e, sizeof(e), RPAL_EXEC_PLACE_SIZE_VER0, uarg,
			   &usize);
	if (ret)
		return ret;
	if (e.flags || memchr_inv(e.resv, 0, sizeof(e.resv)))
		return -EINVAL;
	memcpy(name, e.name, sizeof(name));
	n = strnlen(name, sizeof(name));
	if (n == sizeof(name))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!isprint(name[i]))
			return -EINVAL;

	memset(&e, 0, sizeof(e));
	ret = rpal_exec_place(rf, name, &e);
	if (ret)
		return ret;
	ret = rpal_copy_out(uarg, &e, sizeof(e), usize);
	if (ret)
		rpal_exec_disarm(rf);	/* nobody was told: undo */
	return ret;
}

/*
 * The fd's live service, with a reference, without rpal_mutex (the hot
 * commands). rf->svc is cleared before the service's last reference goes,
 * and the service is freed only after a grace period.
 */
static struct rpal_service *rpal_file_service_get(struct rpal_file *rf)
{
	struct rpal_service *svc;

	rcu_read_lock();
	svc = READ_ONCE(rf->svc);
	if (!svc || READ_ONCE(svc->state) != RPAL_SVC_ACTIVE ||
	    !refcount_inc_not_zero(&svc->ref))
		svc = ERR_PTR(-ENOENT);
	rcu_read_unlock();
	if (!IS_ERR(svc) && svc->mm != current->mm) {
		rpal_service_put(svc);
		svc = ERR_PTR(-EPERM);
	}
	return svc;
}

static long rpal_ioc_thread(struct rpal_file *rf, void __user *uarg)
{
	struct rpal_service *svc;
	struct rpal_thread t;
	u32 usize;
	int ret;

	ret = rpal_copy_in(&t, sizeof(t), RPAL_THREAD_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (t.flags & ~RPAL_THREAD_UNREGISTER)
		return -EINVAL;
	if ((t.flags & RPAL_THREAD_UNREGISTER) ? (t.record || t.rescue) :
						 t.index)
		return -EINVAL;
	mutex_lock(&rpal_mutex);
	ret = rpal_file_service(rf, &svc);
	if (!ret) {
		if (t.flags & RPAL_THREAD_UNREGISTER)
			ret = rpal_thread_unregister(svc, t.index);
		else
			ret = rpal_thread_register(svc, &t);
	}
	mutex_unlock(&rpal_mutex);
	if (ret || (t.flags & RPAL_THREAD_UNREGISTER))
		return ret;
	t.pad = 0;
	ret = rpal_copy_out(uarg, &t, sizeof(t), usize);
	if (ret) {
		mutex_lock(&rpal_mutex);
		if (!rpal_file_service(rf, &svc))
			rpal_thread_unregister(svc, t.out_index);
		mutex_unlock(&rpal_mutex);
	}
	return ret;
}

static long rpal_ioc_wait(struct rpal_file *rf, void __user *uarg)
{
	struct rpal_service *svc;
	struct rpal_wait w;
	u32 usize;
	long ret;

	ret = rpal_copy_in(&w, sizeof(w), RPAL_WAIT_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if ((w.flags & ~RPAL_WAIT_PROXY_DONE) || w.pad || w.timeout_ms < -1)
		return -EINVAL;
	if (!(w.flags & RPAL_WAIT_PROXY_DONE) &&
	    (w.proxy_ret || w.proxy_done_seq))
		return -EINVAL;
	/* Outputs: whatever the caller left there is overwritten. */
	w.reason = 0;
	w.kicks = 0;
	w.proxy_seq = 0;
	w.proxy_nr = 0;
	memset(w.proxy_args, 0, sizeof(w.proxy_args));
	svc = rpal_file_service_get(rf);
	if (IS_ERR(svc))
		return PTR_ERR(svc);
	ret = rpal_thread_wait(svc, &w);
	rpal_service_put(svc);
	if (ret)
		return ret;
	return rpal_copy_out(uarg, &w, sizeof(w), usize);
}

static long rpal_ioc_wake(struct rpal_file *rf, void __user *uarg)
{
	struct rpal_service *svc;
	struct rpal_wake w;
	u32 usize;
	long ret;

	ret = rpal_copy_in(&w, sizeof(w), RPAL_WAKE_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (w.flags || memchr_inv(w.resv, 0, sizeof(w.resv)))
		return -EINVAL;
	svc = rpal_file_service_get(rf);
	if (IS_ERR(svc))
		return PTR_ERR(svc);
	ret = rpal_thread_wake(svc, &w);
	rpal_service_put(svc);
	return ret;
}

static long rpal_ioc_report(struct rpal_file *rf, void __user *uarg)
{
	struct rpal_service *svc;
	struct rpal_report r;
	u32 usize;
	long ret;

	ret = rpal_copy_in(&r, sizeof(r), RPAL_REPORT_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (r.flags || memchr_inv(r.resv, 0, sizeof(r.resv)))
		return -EINVAL;
	svc = rpal_file_service_get(rf);
	if (IS_ERR(svc))
		return PTR_ERR(svc);
	r.charged_ns = 0;
	ret = rpal_thread_report(svc, &r);
	rpal_service_put(svc);
	if (ret)
		return ret;
	return rpal_copy_out(uarg, &r, sizeof(r), usize);
}

u64 rpal_ioctl_commands(void)
{
	return BIT_ULL(RPAL_IOC_NR_VERSION) | BIT_ULL(RPAL_IOC_NR_REGISTER) |
	       BIT_ULL(RPAL_IOC_NR_UNREGISTER) | BIT_ULL(RPAL_IOC_NR_REQUEST) |
	       BIT_ULL(RPAL_IOC_NR_RELEASE) | BIT_ULL(RPAL_IOC_NR_EXEC_PLACE) |
	       BIT_ULL(RPAL_IOC_NR_THREAD) | BIT_ULL(RPAL_IOC_NR_WAIT) |
	       BIT_ULL(RPAL_IOC_NR_WAKE) | BIT_ULL(RPAL_IOC_NR_REPORT);
}

long rpal_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct rpal_file *rf = file->private_data;
	void __user *uarg = (void __user *)arg;

	BUILD_BUG_ON(sizeof(struct rpal_version) != RPAL_VERSION_SIZE_VER0);
	BUILD_BUG_ON(offsetof(struct rpal_version, api) != 24);
	BUILD_BUG_ON(offsetof(struct rpal_version, module_version) != 48);
	BUILD_BUG_ON(offsetof(struct rpal_register, id) != 56);
	BUILD_BUG_ON(sizeof(struct rpal_unregister) !=
		     RPAL_UNREGISTER_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct rpal_request) != RPAL_REQUEST_SIZE_VER0);
	BUILD_BUG_ON(offsetof(struct rpal_request, state) != 40);
	BUILD_BUG_ON(sizeof(struct rpal_release) != RPAL_RELEASE_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct rpal_event) != 16);
	BUILD_BUG_ON(sizeof(struct rpal_exec_place) !=
		     RPAL_EXEC_PLACE_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct rpal_register) != 96);
	BUILD_BUG_ON(sizeof(struct rpal_thread) != RPAL_THREAD_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct rpal_wait) != RPAL_WAIT_SIZE_VER1);
	BUILD_BUG_ON(offsetof(struct rpal_wait, proxy_seq) !=
		     RPAL_WAIT_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct rpal_call_record) !=
		     RPAL_CALL_RECORD_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct rpal_rescue) > 256);
	BUILD_BUG_ON(sizeof(struct rpal_wake) != RPAL_WAKE_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct rpal_report) != RPAL_REPORT_SIZE_VER0);
	BUILD_BUG_ON(RPAL_IOC_NR_MAX > 64);

	switch (cmd) {
	case RPAL_IOC_VERSION:
		return rpal_ioc_version(uarg);
	case RPAL_IOC_REGISTER:
		return rpal_ioc_register(rf, uarg);
	case RPAL_IOC_UNREGISTER:
		return rpal_ioc_unregister(rf, uarg);
	case RPAL_IOC_REQUEST:
		return rpal_ioc_request(rf, uarg);
	case RPAL_IOC_RELEASE:
		return rpal_ioc_release(rf, uarg);
	case RPAL_IOC_EXEC_PLACE:
		return rpal_ioc_exec_place(rf, uarg);
	case RPAL_IOC_THREAD:
		return rpal_ioc_thread(rf, uarg);
	case RPAL_IOC_WAIT:
		return rpal_ioc_wait(rf, uarg);
	case RPAL_IOC_WAKE:
		return rpal_ioc_wake(rf, uarg);
	case RPAL_IOC_REPORT:
		return rpal_ioc_report(rf, uarg);
	default:
		return -ENOTTY;
	}
}
