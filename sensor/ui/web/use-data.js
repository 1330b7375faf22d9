import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api.js';

/** Fetches `path`, again whenever `version` changes (a new live alert); keeps the last answer while reloading. */
export function useData(path, version = 0) {
  const [state, setState] = useState({ data: null, error: null });
  useEffect(() => {
    let gone = false;
    if (!path) return undefined;
    getJson(path).then((data) => !gone && setState({ data, error: null }), (e) => !gone && setState((s) => ({ data: s.data, error: e.message })));
    return () => { gone = true; };
  }, [path, version]);
  return state;
}
