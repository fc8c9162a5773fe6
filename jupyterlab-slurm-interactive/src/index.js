// What this session is and how long it has left, inside JupyterLab and Notebook.
//
// The figures come from the session itself: the server extension of this package answers
// GET {base}/slurm-interactive/session from Slurm's job environment and the job's own
// times (jupyterlab_slurm_interactive/session.py). Nothing here asks the hub. Before the hub
// stops the session, its server passes the word on (GET {base}/slurm-interactive/stopping):
// this tab saves its documents, answers, and says who stopped the session and why. "Add time" (in the
// session's details, and in the walltime warning) asks the server, which asks the hub with its own token.
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Widget } from '@lumino/widgets';

import {
  WARN_MINUTES, addTimeLabel, clockTime, rearmWarnings, resources, stopNotice, timeLeft, walltimeWarning, warningDue,
  welcomeBack
} from './logic.mjs';

const PLUGIN = 'jupyterlab-slurm-interactive:plugin';
const COMMAND = 'slurm-interactive:show-session';
/** How often the session's figures are asked again (an operator may change the time limit). */
const REFRESH_MS = 60 * 1000;
/** How often this tab looks for the hub's word that the session is being stopped (its own server only). */
const STOP_LOOK_MS = 3 * 1000;
const SAVE_ALL = 'docmanager:save-all';

class SessionStatus extends Widget {
  constructor(onClick) {
    super({ node: document.createElement('button') });
    this.node.type = 'button';
    this.addClass('jp-SlurmInteractive-status');
    this.node.addEventListener('click', onClick);
    // empty (so not shown, see style/index.css) until the session's figures are known
  }

  showSession(session, secondsLeft) {
    const left = session.ends_at ? `${timeLeft(secondsLeft)} left` : 'no time limit';
    // the time left second: on a phone the end of the line is cut, never the time
    this.node.textContent = `Job ${session.job_id} · ${left} · ${session.node} · ${resources(session)}`;
    this.node.title = `Your Slurm session: job ${session.job_id} on ${session.node}` +
      (session.ends_at ? `, ends at ${clockTime(session.ends_at)}` : '') + '. Click for details.';
    this.node.classList.toggle('jp-mod-warn', secondsLeft !== null && secondsLeft <= WARN_MINUTES[0] * 60);
  }
}

function detailsNode(session, secondsLeft) {
  const node = document.createElement('div');
  node.className = 'jp-SlurmInteractive-details';
  const rows = [
    ['Slurm job', session.job_id],
    ['Node', session.node],
    ['Cores', String(session.cores)],
    ['Memory', `${session.memory_mb.toLocaleString('en-US')} MB`],
    ['GPUs', session.gpus ? String(session.gpus) : 'none'],
    ['Account', session.account || '—'],
    ['Reservation', session.reservation || 'none'],
    ['Release', session.release || '—'],
    ['Started', session.started_at ? clockTime(session.started_at) : '—'],
    ['Ends', session.ends_at ? `${clockTime(session.ends_at)} (${timeLeft(secondsLeft)} left)` : 'no time limit']
  ];
  const table = document.createElement('table');
  for (const [name, value] of rows) {
    const tr = table.insertRow();
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = name;
    tr.appendChild(th);
    tr.insertCell().textContent = value;
  }
  node.appendChild(table);
  const note = document.createElement('p');
  note.textContent = 'When the time ends, Slurm stops the session and unsaved work is lost. ' +
    'Closing this tab does not stop it: stop it from the Hub Control Panel when you are done.';
  node.appendChild(note);
  if ((session.add_time || []).length) {
    const more = document.createElement('p');
    more.textContent = 'Need longer? Add time below. The hub adds it unless the partition\'s limit, the site\'s ' +
      'limit on a session, or people waiting for what this session holds stand in the way; it then says which.';
    node.appendChild(more);
  }
  if (session.hub_url) {
    const link = document.createElement('a');
    link.href = session.hub_url;
    link.target = '_blank';
    link.rel = 'noopener';
    link.className = 'jp-SlurmInteractive-hub';
    link.textContent = 'Open the Hub Control Panel';
    node.appendChild(link);
  }
  return node;
}

async function ask(settings, path, init = {}) {
  const url = URLExt.join(settings.baseUrl, 'slurm-interactive', path);
  const response = await ServerConnection.makeRequest(url, init, settings);
  if (!response.ok) { throw new Error(`${response.status}`); }
  return response.json();
}

const fetchSession = settings => ask(settings, 'session');

/** Ask for more time (the server asks the hub, which checks the site's rules): the hub's answer, or its refusal. */
async function askForTime(settings, minutes) {
  const url = URLExt.join(settings.baseUrl, 'slurm-interactive', 'add-time');
  const response = await ServerConnection.makeRequest(
    url, { method: 'POST', body: JSON.stringify({ minutes }) }, settings);
  let answer = {};
  try { answer = await response.json(); } catch (e) { /* no body */ }
  return { ok: response.ok, message: answer.message || `The hub answered ${response.status}: no time was added.` };
}

/** Look for the hub's word of a stop; on it, save every open document, answer, and say who stops the session.
 *  The looks end with the session: after the word, or when the server no longer answers. */
function watchForStop(app, settings) {
  const tab = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`.replace('.', '');
  let handled = null, failures = 0, timer = null;
  const look = async () => {
    let notice;
    try {
      notice = (await ask(settings, `stopping?tab=${encodeURIComponent(tab)}`)).notice;
      failures = 0;
    } catch (e) {
      if (++failures >= 3) { clearInterval(timer); } // the server is gone, or is not one of ours
      return;
    }
    if (!notice || notice.id === handled) { return; }
    handled = notice.id;
    clearInterval(timer);
    let saved = true;
    try {
      await app.commands.execute(SAVE_ALL);
    } catch (e) {
      saved = false;
    }
    try {
      await ask(settings, 'stopping/saved', { method: 'POST', body: JSON.stringify({ tab, id: notice.id }) });
    } catch (e) {
      // the hub stops the session anyway once its wait is over
    }
    void showDialog({
      title: 'Your session is being stopped',
      body: stopNotice(notice, saved),
      buttons: [Dialog.okButton({ label: 'Close' })]
    });
  };
  void look();
  timer = setInterval(look, STOP_LOOK_MS);
}

const plugin = {
  id: PLUGIN,
  description: 'The Slurm session in the status bar, warnings before its walltime, and a welcome back.',
  autoStart: true,
  optional: [IStatusBar],
  activate: (app, statusBar) => {
    const settings = ServerConnection.makeSettings();
    let session = null, skew = 0;
    const shown = new Set();
    const warnings = []; // the walltime warnings on screen
    const secondsLeft = () => (session && session.ends_at ? Math.round(session.ends_at - (Date.now() / 1000 - skew)) : null);

    const addTime = async (minutes) => {
      const answer = await askForTime(settings, minutes);
      if (!answer.ok) {
        Notification.error(answer.message, { autoClose: false });
        return;
      }
      await load(false); // the new end, from Slurm
      rearmWarnings(secondsLeft(), shown);
      warnings.splice(0).forEach(id => Notification.dismiss(id)); // they spoke of the old end
      Notification.success(answer.message, { autoClose: 8000 });
    };
    const openDetails = async () => {
      if (!session) { return; }
      const steps = session.add_time || [];
      const result = await showDialog({
        title: `Your session: Slurm job ${session.job_id}`,
        body: new Widget({ node: detailsNode(session, secondsLeft()) }),
        buttons: [
          ...steps.map(m => Dialog.createButton({ label: addTimeLabel(m), className: 'jp-SlurmInteractive-addTime' })),
          Dialog.okButton({ label: 'Close' })
        ]
      });
      const chosen = steps.find(m => addTimeLabel(m) === result.button.label);
      if (chosen) { await addTime(chosen); }
    };
    app.commands.addCommand(COMMAND, { label: 'Show this Slurm session', execute: () => openDetails() });

    const status = new SessionStatus(() => void openDetails());
    if (statusBar) {
      statusBar.registerStatusItem('jupyterlab-slurm-interactive:status', {
        item: status, align: 'left', rank: 1000, priority: 1 // shown on a phone too
      });
    }

    const tick = () => {
      if (!session) { return; }
      const left = secondsLeft();
      status.showSession(session, left);
      const minutes = warningDue(left, shown);
      if (minutes !== null) {
        WARN_MINUTES.filter(m => m >= minutes).forEach(m => shown.add(m));
        warnings.push(Notification.warning(
          walltimeWarning(left, session.ends_at),
          {
            autoClose: false,
            actions: [
              { label: 'Save all', callback: () => void app.commands.execute(SAVE_ALL) },
              ...(session.add_time || []).slice(0, 1).map(m => ({ label: addTimeLabel(m), callback: () => void addTime(m) })),
              { label: 'Session details', callback: () => void openDetails() }
            ]
          }
        ));
      }
    };

    const load = async (first) => {
      try {
        session = await fetchSession(settings);
      } catch (e) {
        return; // not a Slurm session (or its server is going away): show nothing
      }
      skew = Date.now() / 1000 - session.now;
      const welcome = first ? welcomeBack(session) : null;
      if (welcome) {
        Notification.info(welcome, { autoClose: 8000 });
      }
      tick();
    };
    // not awaited: the application is restored only once every plugin is active
    void app.restored.then(() => watchForStop(app, settings));
    void app.restored.then(() => load(true)).then(() => {
      setInterval(tick, 15 * 1000);
      setInterval(() => load(false), REFRESH_MS);
    });
  }
};

export default plugin;
