/* systemd service notifications (sd_notify): readiness, status text, watchdog, stopping.
 * Outside systemd (no NOTIFY_SOCKET) every call is a no-op, so the daemons call them freely. */
#ifndef VG_NOTIFY_H
#define VG_NOTIFY_H

#include <stdint.h>

/* Sends one notification (newline-separated KEY=VALUE lines) to $NOTIFY_SOCKET. Returns 0 (also
 * when there is no socket to send to) or a negative errno. */
int vg_notify_send(const char *state);

/* Reads the watchdog interval systemd asks for (WatchdogSec=), if any. */
void vg_notify_init(void);

void vg_notify_ready(const char *status);

void vg_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Call from the main loop: pets the watchdog at half its interval. Cheap when not due. */
void vg_notify_watchdog(int64_t now_mono_ms);

/* Before the loop waits up to wait_ms on something else (the broker): pets the watchdog now if
 * it would fall due meanwhile, so that the wait does not add to the interval. */
void vg_notify_watchdog_ahead(int64_t now_mono_ms, int64_t wait_ms);

/* When the watchdog must next be petted (monotonic ms), so a loop can sleep until then and no
 * longer; INT64_MAX without a watchdog. */
int64_t vg_notify_watchdog_due(void);

/* systemd's watchdog timeout (WatchdogSec=, in ms) as vg_notify_init read it; 0 without one. */
int64_t vg_notify_watchdog_timeout_ms(void);

/* For a start that takes long but makes progress (the agent reading a spool of GiBs): systemd
 * waits ms more, from now, before its start timeout fails the unit (EXTEND_TIMEOUT_USEC; it
 * never shortens TimeoutStartSec=), and shows status. To be sent again before ms is up. */
void vg_notify_extend(int64_t ms, const char *status);

void vg_notify_stopping(void);

#endif
