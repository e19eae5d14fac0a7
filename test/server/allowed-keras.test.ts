// What the hosts let through for Keras files and continued training: the Keras file a user names
// is read wherever it is (as a dataset folder they name is), but opens nothing for later commands;
// where models are written, and the saved model training continues, must be inside opened folders.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { admit, AllowedFolders } from '../../src/host/allowed'
import { tempDir } from '../helpers'

describe('admit: Keras import and continued training', () => {
  it('admits a Keras file outside the opened folders, writes only inside them, and opens nothing', async () => {
    const home = tempDir()
    const folders = new AllowedFolders([home])
    const elsewhere = tempDir()
    const file = path.join(elsewhere, 'model.h5')
    fs.writeFileSync(file, 'HDF5 or not, the engine decides')
    await expect(admit({ command: 'importKeras', file, preprocess: 'unit' }, folders)).resolves.toMatchObject({ file })
    await expect(admit({ command: 'importKeras', file, preprocess: 'unit', out: path.join(home, 'models', 'm') }, folders)).resolves.toMatchObject({ file })
    await expect(admit({ command: 'importKeras', file, preprocess: 'unit', out: path.join(elsewhere, 'm') }, folders)).rejects.toThrow(
      `Refused: ${path.join(elsewhere, 'm')} is outside the folders you opened`
    )
    await expect(admit({ command: 'importKeras', file: path.join(elsewhere, 'missing.h5'), preprocess: 'unit' }, folders)).rejects.toThrow(
      `File not found: ${path.join(elsewhere, 'missing.h5')}`
    )
    await expect(admit({ command: 'importKeras', file: elsewhere, preprocess: 'unit' }, folders)).rejects.toThrow(`File not found: ${elsewhere}`)
    // Naming the file did not open its folder.
    await expect(folders.check(file)).rejects.toThrow(/outside the folders you opened/)
  })

  it('a saved model to continue must be inside the opened folders, for describing and for training', async () => {
    const home = tempDir()
    const folders = new AllowedFolders([home])
    const elsewhere = tempDir()
    await expect(admit({ command: 'describeModel', backbone: 'x', startFrom: elsewhere }, folders)).rejects.toThrow(/outside the folders you opened/)
    await expect(admit({ command: 'train', config: { data: home, backbone: 'x', startFrom: elsewhere } }, folders)).rejects.toThrow(
      /outside the folders you opened/
    )
    await expect(admit({ command: 'train', config: { data: home, backbone: 'x', startFrom: path.join(home, 'models', 'm') } }, folders)).resolves.toBeTruthy()
  })
})
