// Runs the state store contract against the in-process store.
import { MemoryStore } from '../../../core/store/memory-store.ts';
import { storeContract } from './contract.ts';

storeContract('memory', { open: async () => new MemoryStore(), purgeCounts: true });
