// The extension's pure logic: times, words and when to warn. No JupyterLab here, so that
// tests run it with plain Node (tests/unit/test_lab_extension.py).

/** Minutes before the walltime at which a warning is shown, largest first. */
export const WARN_MINUTES = [15, 5];
/** A page opened this long after the job started is someone coming back to their session. */
export const WELCOME_AFTER_S = 120;

/** "13:05 UTC": the one time format of the product, 24 hours, with the zone. */
export function clockTime(epochSeconds, seconds = false) {
  return new Date(epochSeconds * 1000).toLocaleTimeString('en-GB', {
    hour: '2-digit', minute: '2-digit', second: seconds ? '2-digit' : undefined, hourCycle: 'h23',
    timeZoneName: 'short'
  });
}

/** A length of time as every page of the product writes it (the hub's words.duration): "42 s", "14 min",
 *  "1 h 58 min", "2 h", "1 d 1 h". */
export function duration(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  if (whole < 60) { return `${whole} s`; }
  const minutes = Math.floor(whole / 60);
  return [[Math.floor(minutes / 1440), 'd'], [Math.floor((minutes % 1440) / 60), 'h'], [minutes % 60, 'min']]
    .filter(([n]) => n).map(([n, unit]) => `${n} ${unit}`).join(' ');
}

/** The time a session has left: its duration, or "no time limit". */
export function timeLeft(seconds) {
  return seconds === null || seconds === undefined ? 'no time limit' : duration(seconds);
}

/** "2 cores · 4 GB · 1 GPU" */
export function resources(s) {
  const memory = s.memory_mb >= 1024 && s.memory_mb % 1024 === 0 ? `${s.memory_mb / 1024} GB` : `${s.memory_mb} MB`;
  const gpus = s.gpus ? `${s.gpus} GPU${s.gpus > 1 ? 's' : ''}` : 'no GPU';
  return `${s.cores} core${s.cores === 1 ? '' : 's'} · ${memory} · ${gpus}`;
}

/** The warning due now, if any: the smallest threshold the time left has passed and not yet shown. */
export function warningDue(secondsLeft, shown) {
  if (secondsLeft === null || secondsLeft <= 0) { return null; }
  const due = WARN_MINUTES.filter(m => secondsLeft <= m * 60);
  if (!due.length) { return null; }
  const minutes = Math.min(...due);
  return shown.has(minutes) ? null : minutes;
}

/** The "welcome back" note, when a page opens in a session that began a while ago; else null. */
export function welcomeBack(session) {
  if (!session.started_at || session.now - session.started_at <= WELCOME_AFTER_S) { return null; }
  return `Welcome back: this is your session since ${clockTime(session.started_at)} ` +
    `(Slurm job ${session.job_id} on ${session.node}).`;
}

/** The warning before the walltime, in a sentence. */
export function walltimeWarning(secondsLeft, endsAt) {
  return `Your session ends in ${timeLeft(secondsLeft)}, at ${clockTime(endsAt)}: Slurm then stops it, ` +
    'and unsaved work will be lost. Save your work now.';
}

/** What a tab says when the hub stops its session: who (a phrase, "" when the hub does not know) and why,
 *  and whether its open documents were saved first. */
export function stopNotice(notice, saved) {
  const who = notice.by ? `by ${notice.by}` : 'from the Hub Control Panel';
  const why = notice.reason ? `: ${notice.reason.replace(/\.$/, '')}` : '';
  const docs = saved ? 'Your open documents were saved first.' : 'Your open documents could not all be saved.';
  return `This session is being stopped ${who}${why}. ${docs} Its kernels and terminals end now.`;
}

/** A button's words for more time: "Add 30 min", "Add 1 h". */
export function addTimeLabel(minutes) {
  return `Add ${duration(minutes * 60)}`;
}

/** After time was added, the warnings whose threshold the time left is now above may be shown again. */
export function rearmWarnings(secondsLeft, shown) {
  if (secondsLeft === null || secondsLeft === undefined) { return; }
  WARN_MINUTES.filter(m => secondsLeft > m * 60).forEach(m => shown.delete(m));
}
