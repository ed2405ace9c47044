/**
 * The jupyter_tracker sidebar: a left-panel list of runs, and run / comparison views in the
 * main area.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { IStateDB } from '@jupyterlab/statedb';
import { listIcon, tableRowsIcon } from '@jupyterlab/ui-components';

import { TrackerModel } from './model';
import { CompareWidget } from './widgets/CompareView';
import { shortId } from './widgets/format';
import { RunDetailWidget } from './widgets/RunDetail';
import { RunListPanel } from './widgets/RunList';
import { RunsTableWidget } from './widgets/RunsTable';

const PANEL_ID = 'jupyter-tracker-panel';

namespace CommandIDs {
  export const openPanel = 'jupyter-tracker:open-panel';
  export const openRun = 'jupyter-tracker:open-run';
  export const compare = 'jupyter-tracker:compare';
  export const openTable = 'jupyter-tracker:open-table';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-tracker:plugin',
  description: 'Experiment runs recorded by %%track: browse, compare, rerun.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer, IStateDB],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    state: IStateDB | null
  ) => {
    const model = new TrackerModel();
    const views = new Map<string, MainAreaWidget>();

    const show = (key: string, make: () => MainAreaWidget) => {
      let view = views.get(key);
      if (!view || view.isDisposed) {
        view = make();
        views.set(key, view);
        view.disposed.connect(() => views.delete(key));
        app.shell.add(view, 'main');
      }
      app.shell.activateById(view.id);
    };

    const openRun = (runId: string) =>
      show(`run:${runId}`, () => {
        const content = new RunDetailWidget(runId, model, openRun);
        const view = new MainAreaWidget({ content });
        view.id = `jupyter-tracker-run-${runId}`;
        view.title.label = `Run ${shortId(runId)}`;
        view.title.caption = `Run ${runId}`;
        view.title.icon = listIcon;
        view.title.closable = true;
        return view;
      });

    const compare = (runIds: string[]) =>
      show(`compare:${runIds.join(',')}`, () => {
        const content = new CompareWidget(runIds, openRun);
        const view = new MainAreaWidget({ content });
        view.id = `jupyter-tracker-compare-${runIds.map(shortId).join('-')}`;
        view.title.label = `Compare ${runIds.length} runs`;
        view.title.caption = runIds.join(', ');
        view.title.icon = listIcon;
        view.title.closable = true;
        return view;
      });

    // One table per experiment (null: all experiments), its column choices kept in the state database.
    const openTable = (experiment: string | null) =>
      show(`table:${experiment ?? '*'}`, () => {
        const content = new RunsTableWidget({ tracker: model, experiment, store: state, actions: { openRun, compare } });
        const view = new MainAreaWidget({ content });
        const name = experiment ?? 'all experiments';
        view.id = `jupyter-tracker-table-${experiment === null ? '*' : encodeURIComponent(experiment)}`;
        view.title.label = `Runs: ${name.length > 40 ? `${name.slice(0, 39)}…` : name}`;
        view.title.caption = `Runs table of ${name}`;
        view.title.icon = tableRowsIcon;
        view.title.closable = true;
        return view;
      });

    const panel = new RunListPanel(model, { openRun, compare, openTable });
    panel.id = PANEL_ID;
    panel.title.icon = listIcon;
    panel.title.caption = 'Experiment runs (jupyter_tracker)';
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, PANEL_ID);

    app.commands.addCommand(CommandIDs.openPanel, {
      label: 'Show Experiment Runs',
      execute: () => app.shell.activateById(PANEL_ID)
    });
    app.commands.addCommand(CommandIDs.openRun, {
      label: 'Open Experiment Run',
      execute: args => openRun(String(args.runId))
    });
    app.commands.addCommand(CommandIDs.compare, {
      label: 'Compare Experiment Runs',
      execute: args => compare((args.runIds as string[]) ?? [])
    });
    app.commands.addCommand(CommandIDs.openTable, {
      label: args =>
        typeof args.experiment === 'string'
          ? `Open runs table of ${args.experiment}`
          : 'Experiment Tracker: Open runs table',
      caption: 'The runs in a table: sort, filter, group, choose columns, chart',
      icon: tableRowsIcon,
      execute: args => openTable(typeof args.experiment === 'string' ? args.experiment : null)
    });
    palette?.addItem({ command: CommandIDs.openPanel, category: 'Experiment Tracking' });
    palette?.addItem({ command: CommandIDs.openTable, category: 'Experiment Tracking' });
  }
};

export default plugin;
