/** What every page may read: the logged-in session and the online rule. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { SessionInfo } from './api.ts';
import { DEFAULT_RULE, type OnlineRule } from './format.ts';

export interface AppState {
  session: SessionInfo;
  rule: OnlineRule;
  setRule: (rule: OnlineRule) => void;
}

export const AppContext = createContext<AppState | null>(null);

export function useApp(): AppState {
  const state = useContext(AppContext);
  if (!state) throw new Error('useApp outside the app');
  return state;
}

export { DEFAULT_RULE };
