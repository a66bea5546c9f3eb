import { createContext, useContext } from 'react';
import type { SyncApi } from './syncApi';

export const SyncApiContext = createContext<SyncApi | null>(null);

export function useSyncApi(): SyncApi {
    const api = useContext(SyncApiContext);
    if (!api) throw new Error('useSyncApi outside <SyncApiContext>');
    return api;
}
