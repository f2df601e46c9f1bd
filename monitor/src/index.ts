import { runService } from '../../core/service-host.ts';
import { startMonitorService } from './service.ts';

await runService('monitor', { port: 9103 }, startMonitorService);
