import { runService } from '../../core/service-host.ts';
import { startPersisterService } from './service.ts';

await runService('persister', { port: 9102 }, startPersisterService);
